import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { ProtocolError } from '../protocol/errors.js';
import { openStorage } from '../storage/open.js';
import type { Storage } from '../storage/types.js';
import { formatBytes, formatDuration, plural } from '../text.js';
import { AllowList } from './access.js';
import { Connection, ConnectionError, describeReason, type CloseReason, type FileEvent } from './connection.js';
import { errorFields, silentLogger, type Logger } from './logger.js';
import {
  checkServerOptions,
  connectionOptions,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_PORT,
  DEFAULT_SHUTDOWN_DEADLINE_MS,
  type ConnectionOptions,
  type ServerOptions,
} from './options.js';
import { formatAddress, formatPeer, peerOf, readProxyHeader, type Peer } from './peer.js';

export { ConnectionError, type CloseReason, type FileEvent } from './connection.js';
export {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_PORT,
  DEFAULT_SHUTDOWN_DEADLINE_MS,
  DEFAULT_SERVER_MAX_IN_FLIGHT,
  type ServerOptions,
  type TlsOptions,
} from './options.js';
export { formatAddress } from './peer.js';

export interface ConnectionSummary {
  connection: number;
  remote: string;
  files: number;
  bytes: number;
  reason: CloseReason;
  error?: Error;
  ms: number;
}

/** A connection closed as soon as it arrived. */
export interface RefusedEvent {
  remote: string;
  reason: 'not-allowed' | 'too-many-connections' | 'too-many-from-address' | 'proxy-header';
}

export interface LinedropServerEvents {
  connectionOpened: [{ connection: number; remote: string }];
  connectionRefused: [RefusedEvent];
  file: [FileEvent];
  connectionClosed: [ConnectionSummary];
}

/**
 * The linedrop server: accepts any number of connections at once, streams each message into a
 * temporary file, and answers `A` only after the file is flushed to disk and renamed into place.
 */
export class LinedropServer extends EventEmitter<LinedropServerEvents> {
  readonly storage: Storage;
  readonly logger: Logger;
  private readonly options: ServerOptions;
  private readonly connectionOptions: ConnectionOptions;
  private readonly server: Server;
  private readonly allowList: AllowList | undefined;
  private readonly connectionsByAddress = new Map<string, number>();
  private readonly open = new Map<Socket, Connection>();
  private readonly running = new Set<Promise<void>>();
  /** Connections still sending their PROXY header. */
  private readonly pending = new Set<Socket>();
  private connectionCount = 0;
  private closing = false;
  private initialised: Promise<void> | undefined;

  constructor(options: ServerOptions = {}) {
    super();
    checkServerOptions(options);
    this.options = options;
    this.connectionOptions = connectionOptions(options);
    this.logger = options.logger ?? silentLogger;
    this.storage = openStorage(options);
    this.allowList = options.allow ? new AllowList(options.allow) : undefined;
    if (options.tls) {
      const { cert, key, clientCa } = options.tls;
      const tlsServer = createTlsServer(
        { cert, key, ...(clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: true } : {}), allowHalfOpen: true },
        (socket: TLSSocket) => this.accept(socket, peerOf(socket)),
      );
      // Refuse before the handshake: the raw TCP connection is checked first.
      tlsServer.on('connection', (socket: Socket) => {
        if (!this.admit(socket, peerOf(socket))) socket.destroy();
      });
      tlsServer.on('tlsClientError', (err, socket) => {
        const remote = formatPeer(peerOf(socket));
        this.logger.warn({ remote, error: errorFields(err) }, `TLS handshake with ${remote} failed: ${err.message}`);
      });
      this.server = tlsServer;
    } else {
      this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
        if (!options.proxyProtocol) {
          if (this.admit(socket, peerOf(socket))) this.accept(socket, peerOf(socket));
          else socket.destroy();
          return;
        }
        this.pending.add(socket);
        readProxyHeader(socket)
          .then((peer) => {
            this.pending.delete(socket);
            if (this.admit(socket, peer)) this.accept(socket, peer);
            else socket.destroy();
          })
          .catch((err: Error) => {
            this.pending.delete(socket);
            const remote = formatPeer(peerOf(socket));
            this.logger.warn({ remote, error: errorFields(err) }, `closed ${remote}: ${err.message}`);
            this.emit('connectionRefused', { remote, reason: 'proxy-header' });
            socket.destroy();
          });
      });
    }
  }

  /** Prepares storage and starts listening. Port 0 picks a free port; `address()` tells which. */
  async listen(port: number = DEFAULT_PORT, host?: string): Promise<AddressInfo> {
    this.initialised ??= this.storage.init().then((removed) => {
      if (removed > 0) this.logger.warn({ removed }, `removed ${plural(removed, 'temporary file')} left by an earlier run`);
    });
    await this.initialised;
    this.server.listen(port, host);
    await once(this.server, 'listening');
    const address = this.address();
    this.logger.info(
      { host: address.address, port: address.port, storage: this.storage.location, tls: this.options.tls !== undefined },
      `listening on ${formatAddress(address.address, address.port)}${this.options.tls ? ' (TLS)' : ''}, saving to ${this.storage.location}`,
    );
    return address;
  }

  address(): AddressInfo {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('the server is not listening');
    return address;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /** Connections open now. */
  get connections(): number {
    return this.open.size;
  }

  /** Stops accepting connections; the ones open go on. */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }

  /** Resolves when every connection open now has ended. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /**
   * Graceful stop: no new connections; connections between messages are closed now; a message
   * in progress may finish (and is answered) until the deadline, after which what is left is
   * cut off and its partial files are removed. Resolves when every connection has ended.
   */
  async shutdown(deadlineMs: number = DEFAULT_SHUTDOWN_DEADLINE_MS): Promise<void> {
    this.stopAccepting();
    for (const connection of this.open.values()) connection.stop();
    const timer = setTimeout(() => void this.close(), deadlineMs);
    try {
      await this.idle();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops at once: every connection is cut off (partial files are removed). Resolves when all is closed. */
  async close(): Promise<void> {
    this.closing = true;
    this.stopAccepting();
    for (const socket of this.pending) socket.destroy();
    for (const socket of this.open.keys()) socket.destroy();
    await this.idle();
  }

  /** Applies the allowlist and the connection limits to a new connection. */
  private admit(socket: Socket, peer: Peer): boolean {
    const address = peer.address;
    const remote = formatPeer(peer);
    let reason: RefusedEvent['reason'] | undefined;
    let text = '';
    const perAddress = this.connectionsByAddress.get(address) ?? 0;
    const maxConnections = this.options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    const maxPerAddress = this.options.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
    if (this.allowList && !this.allowList.allows(address)) {
      reason = 'not-allowed';
      text = `refused ${remote}: not in the allowlist (${this.allowList.ranges.join(', ')})`;
    } else if (this.open.size >= maxConnections) {
      reason = 'too-many-connections';
      text = `refused ${remote}: ${maxConnections} connections are open, the limit`;
    } else if (perAddress >= maxPerAddress) {
      reason = 'too-many-from-address';
      text = `refused ${remote}: ${perAddress} connections from ${address} are open, the limit per address`;
    }
    if (reason === undefined) return true;
    socket.on('error', () => undefined);
    this.logger.warn({ remote, reason }, text);
    this.emit('connectionRefused', { remote, reason });
    return false;
  }

  private accept(socket: Socket, peer: Peer): void {
    const id = ++this.connectionCount;
    const address = peer.address;
    this.connectionsByAddress.set(address, (this.connectionsByAddress.get(address) ?? 0) + 1);
    const done = this.serve(socket, id, peer).finally(() => {
      this.open.delete(socket);
      this.running.delete(done);
      const left = (this.connectionsByAddress.get(address) ?? 1) - 1;
      if (left > 0) this.connectionsByAddress.set(address, left);
      else this.connectionsByAddress.delete(address);
    });
    this.running.add(done);
  }

  private async serve(socket: Socket, id: number, peer: Peer): Promise<void> {
    const started = performance.now();
    const remote = formatPeer(peer);
    const log = this.logger;
    // A socket error ends the iteration in Connection.run with that error; this keeps it from being unhandled.
    socket.on('error', () => undefined);
    const store = this.storage.openConnection({
      id,
      remoteAddress: peer.address,
      remotePort: peer.port,
    });
    log.info({ connection: id, remote }, `connection ${id} from ${remote}`);
    this.emit('connectionOpened', { connection: id, remote });

    const connection = new Connection(socket, id, store, this.connectionOptions, (event) => {
      log.info(
        { connection: id, file: event.file.name, path: event.file.location, lines: event.lines, bytes: event.file.bytes, ms: event.ms },
        `connection ${id}: saved ${event.file.name} (${plural(event.lines, 'line')}, ${formatBytes(event.file.bytes)}) in ${formatDuration(event.ms)}`,
      );
      this.emit('file', event);
    });
    this.open.set(socket, connection);
    if (this.closing) socket.destroy();
    const result = await connection.run();
    const error = result.error;
    const reason = this.closing && result.reason === 'socket-error' ? 'server-closed' : result.reason;
    const ms = Math.round(performance.now() - started);
    const summary: ConnectionSummary = { connection: id, remote, files: connection.files, bytes: connection.bytes, reason, ms };
    if (error) summary.error = error;
    const text = `connection ${id} from ${remote} closed (${describeReason(reason, error)}): ${plural(connection.files, 'file')}, ${formatBytes(connection.bytes)}, ${formatDuration(ms)}`;
    const fields = { connection: id, remote, reason, files: connection.files, bytes: connection.bytes, ms, ...(error ? { error: errorFields(error) } : {}) };
    if (reason === 'quit' || reason === 'server-closed') log.info(fields, text);
    else if (error && !(error instanceof ProtocolError) && !(error instanceof ConnectionError) && reason === 'rejected') log.error(fields, text);
    else log.warn(fields, text);
    this.emit('connectionClosed', summary);
  }
}

/** Creates a server and starts it listening. */
export async function startServer(options: ServerOptions & { port?: number; host?: string } = {}): Promise<LinedropServer> {
  const server = new LinedropServer(options);
  await server.listen(options.port ?? DEFAULT_PORT, options.host);
  return server;
}
