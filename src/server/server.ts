// `LinedropServer`: listen, admit, accept, hand each socket to a `Connection`, shut down; its events.
import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { DEFAULT_PORT, formatAddress } from '../net-address.js';
import { ProtocolError } from '../protocol/errors.js';
import { openStorage } from '../storage/open.js';
import type { Storage } from '../storage/types.js';
import { formatBytes, formatDuration, plural } from '../text.js';
import { Admission, Place, type Refusal, type RefusalReason } from './admission.js';
import { Connection, ConnectionError, describeReason, type CloseReason, type FileEvent } from './connection.js';
import { errorFields, silentLogger, type Logger } from './logger.js';
import { DEFAULT_SHUTDOWN_DEADLINE_MS, serverSettings, type ServerOptions, type ServerSettings } from './options.js';
import { formatPeer, peerOf, readProxyHeader, type Peer } from './peer.js';

export interface ConnectionSummary {
  connection: number;
  remote: string;
  files: number;
  bytes: number;
  reason: CloseReason;
  error?: Error;
  ms: number;
}

/** A connection closed as soon as it arrived, or before its TLS handshake or PROXY header was done. */
export interface RefusedEvent {
  remote: string;
  reason: RefusalReason;
}

/**
 * The server's events. `listening`, `error` and `close` are those of `net.Server`: `listening` once
 * `listen()` has bound the port; `error` for a failure of the listening socket (`listen()` also
 * rejects with it, and emits it only to a listener that is there; after listening, an `error` with
 * no listener is thrown, as on `net.Server`); `close` once the server has stopped accepting and
 * every connection has ended.
 */
export interface LinedropServerEvents {
  listening: [];
  error: [Error];
  close: [];
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
  private readonly settings: ServerSettings;
  private readonly server: Server;
  private readonly admission: Admission;
  /** Every socket accepted and not yet closed, whatever it waits for (TLS handshake, PROXY header, a message). */
  private readonly accepted = new Set<Socket>();
  /** TLS handshakes in progress, by the client's address and port. */
  private readonly handshakes = new Map<string, { place: Place; timer: NodeJS.Timeout }>();
  private readonly open = new Map<Socket, Connection>();
  private readonly running = new Set<Promise<void>>();
  private connectionCount = 0;
  private closing = false;
  /** A listen() awaits its 'listening' or 'error'. */
  private listenPending = false;
  private initialised: Promise<void> | undefined;

  constructor(options: ServerOptions = {}) {
    super();
    const settings = (this.settings = serverSettings(options));
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.storage = openStorage(options);
    this.admission = new Admission({
      maxConnections: settings.maxConnections,
      maxConnectionsPerAddress: settings.maxConnectionsPerAddress,
      allowList: settings.allowList,
    });
    if (options.tls) {
      const { cert, key, clientCa } = options.tls;
      // Not half-open until the handshake is done: a peer that closes before it is ended and freed at
      // once, rather than held until the handshake timeout. Once secured, a connection is half-open
      // like a plain one (a client may send its last message and FIN, then read the answers).
      const tlsServer = createTlsServer(
        {
          cert,
          key,
          ...(clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: true } : {}),
          allowHalfOpen: false,
        },
        (socket: TLSSocket) => this.secured(socket),
      );
      // The raw TCP connection is admitted (or refused) before the handshake.
      tlsServer.on('connection', (socket: Socket) => this.arrive(socket));
      tlsServer.on('tlsClientError', (err, socket) => {
        // Not found: refused or timed out already (and said so), or gone.
        const key = socketKey(socket);
        const remote = formatPeer(peerOf(socket));
        const handshake = this.handshakes.get(key);
        socket.destroy();
        if (!handshake) return;
        clearTimeout(handshake.timer);
        this.handshakes.delete(key);
        // The peer left before its handshake (a TCP health check, a port scan): nothing was refused.
        if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') return;
        this.logger.warn({ remote, error: errorFields(err) }, `TLS handshake with ${remote} failed: ${err.message}`);
        this.emit('connectionRefused', { remote, reason: 'tls-handshake' });
      });
      this.server = tlsServer;
    } else {
      this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.arrive(socket));
    }
    this.server.on('error', (err) => {
      // A failed listen() rejects with the error; it goes to 'error' only if someone listens for it there.
      if (!this.listenPending || this.listenerCount('error') > 0) this.emit('error', err);
    });
    // The listening socket closes once it stops accepting and its sockets are gone; 'close' waits for the connections'
    // ends too.
    this.server.on('close', () => void this.idle().then(() => this.emit('close')));
  }

  /** Prepares storage and starts listening. Port 0 picks a free port; `address()` tells which. */
  async listen(port: number = DEFAULT_PORT, host?: string): Promise<AddressInfo> {
    this.initialised ??= this.storage.init().then((removed) => {
      if (removed > 0)
        this.logger.warn({ removed }, `removed ${plural(removed, 'temporary file')} left by an earlier run`);
    });
    await this.initialised;
    this.listenPending = true;
    try {
      this.server.listen(port, host);
      await once(this.server, 'listening');
    } finally {
      this.listenPending = false;
    }
    const address = this.address();
    this.logger.info(
      {
        host: address.address,
        port: address.port,
        storage: this.storage.location,
        tls: this.options.tls !== undefined,
      },
      `listening on ${formatAddress(address.address, address.port)}${this.options.tls ? ' (TLS)' : ''}, ` +
        `saving to ${this.storage.location}`,
    );
    this.emit('listening');
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

  /** Connections open now (served: past their TLS handshake or PROXY header). */
  get connections(): number {
    return this.open.size;
  }

  /** Sockets open now: the connections, and those still in their TLS handshake or sending their PROXY header. */
  get acceptedSockets(): number {
    return this.accepted.size;
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
    for (const socket of this.accepted) socket.destroy();
    for (const socket of this.open.keys()) socket.destroy();
    await this.idle();
  }

  /**
   * A new TCP connection: it takes a place under the caps at once (or is refused), then waits
   * for its TLS handshake or PROXY header, within the handshake timeout, or is served.
   */
  private arrive(socket: Socket): void {
    socket.on('error', () => undefined);
    const peer = peerOf(socket);
    const remote = formatPeer(peer);
    const proxied = this.settings.proxyProtocol;
    // Behind a proxy the client is known only from the header: until then only the total counts.
    const place = this.admission.enter(remote, proxied ? undefined : peer.address);
    if (!(place instanceof Place)) return this.refuse(socket, remote, place);
    this.accepted.add(socket);
    socket.once('close', () => {
      this.accepted.delete(socket);
      place.release();
    });
    if (this.closing) {
      socket.destroy();
    } else if (this.options.tls) {
      const key = socketKey(socket);
      const timer = setTimeout(() => {
        this.handshakes.delete(key);
        this.logger.warn(
          { remote },
          `closed ${remote}: no TLS handshake within ${this.settings.handshakeTimeoutMs} ms`,
        );
        this.emit('connectionRefused', { remote, reason: 'tls-handshake' });
        socket.destroy();
      }, this.settings.handshakeTimeoutMs);
      this.handshakes.set(key, { place, timer });
      socket.once('close', () => {
        clearTimeout(timer);
        if (this.handshakes.get(key)?.timer === timer) this.handshakes.delete(key);
      });
    } else if (!proxied) {
      this.accept(socket, peer, place);
    } else {
      readProxyHeader(socket, this.settings.handshakeTimeoutMs).then(
        (client) => {
          const refusal = place.identify(formatPeer(client), client.address);
          if (refusal) this.refuse(socket, formatPeer(client), refusal);
          else this.accept(socket, client, place);
        },
        (err: Error) => {
          this.logger.warn({ remote, error: errorFields(err) }, `closed ${remote}: ${err.message}`);
          this.emit('connectionRefused', { remote, reason: 'proxy-header' });
          socket.destroy();
        },
      );
    }
  }

  /** A TLS handshake is done: the connection is served in the place it took on arrival. */
  private secured(socket: TLSSocket): void {
    socket.allowHalfOpen = true;
    const key = socketKey(socket);
    const handshake = this.handshakes.get(key);
    // Its handshake timed out meanwhile.
    if (!handshake) return void socket.destroy();
    clearTimeout(handshake.timer);
    this.handshakes.delete(key);
    this.accept(socket, peerOf(socket), handshake.place);
  }

  private refuse(socket: Socket, remote: string, refusal: Refusal): void {
    this.logger.warn({ remote, reason: refusal.reason }, refusal.text);
    this.emit('connectionRefused', { remote, reason: refusal.reason });
    socket.destroy();
  }

  private accept(socket: Socket, peer: Peer, place: Place): void {
    const id = ++this.connectionCount;
    const done = this.serve(socket, id, peer).finally(() => {
      this.open.delete(socket);
      this.running.delete(done);
      place.release();
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

    const connection = new Connection(socket, id, store, this.settings, (event) => {
      log.info(
        {
          connection: id,
          file: event.file.name,
          path: event.file.location,
          lines: event.lines,
          bytes: event.file.bytes,
          ms: event.ms,
        },
        `connection ${id}: saved ${event.file.name} (${plural(event.lines, 'line')}, ` +
          `${formatBytes(event.file.bytes)}) in ${formatDuration(event.ms)}`,
      );
      this.emit('file', event);
    });
    this.open.set(socket, connection);
    if (this.closing) socket.destroy();
    const result = await connection.run();
    await store.close?.();
    const error = result.error;
    const reason = this.closing && result.reason === 'socket-error' ? 'server-closed' : result.reason;
    const ms = Math.round(performance.now() - started);
    const summary: ConnectionSummary = {
      connection: id,
      remote,
      files: connection.files,
      bytes: connection.bytes,
      reason,
      ms,
    };
    if (error) summary.error = error;
    const text =
      `connection ${id} from ${remote} closed (${describeReason(reason, error)}): ` +
      `${plural(connection.files, 'file')}, ${formatBytes(connection.bytes)}, ${formatDuration(ms)}`;
    const fields = {
      connection: id,
      remote,
      reason,
      files: connection.files,
      bytes: connection.bytes,
      ms,
      ...(error ? { error: errorFields(error) } : {}),
    };
    if (reason === 'quit' || reason === 'server-closed') log.info(fields, text);
    else if (error && !(error instanceof ProtocolError) && !(error instanceof ConnectionError) && reason === 'rejected')
      log.error(fields, text);
    else log.warn(fields, text);
    this.emit('connectionClosed', summary);
  }
}

/** A socket's client address and port: the same for a TLS socket and the TCP socket under it. */
function socketKey(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

/** Creates a server and starts it listening. */
export async function startServer(
  options: ServerOptions & { port?: number; host?: string } = {},
): Promise<LinedropServer> {
  const server = new LinedropServer(options);
  await server.listen(options.port ?? DEFAULT_PORT, options.host);
  return server;
}
