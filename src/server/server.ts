import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Decoder } from '../protocol/decoder.js';
import { ProtocolError } from '../protocol/errors.js';
import type { Limits } from '../protocol/limits.js';
import { STATUS_ACCEPTED, STATUS_QUIT, STATUS_REJECTED } from '../protocol/status.js';
import { DirectoryStorage } from '../storage/directory.js';
import type { ConnectionStore, FileSink, Layout, Storage, StoredFile } from '../storage/types.js';
import { plural } from '../text.js';
import { AllowList, normalizeAddress } from './access.js';
import { parseProxyHeader, ProxyProtocolError } from './proxy-protocol.js';
import { silentLogger, type Logger } from './logger.js';

export const DEFAULT_PORT = 12100;

const ACCEPTED = Buffer.from([STATUS_ACCEPTED]);
const QUIT = Buffer.from([STATUS_QUIT]);
const REJECTED = Buffer.from([STATUS_REJECTED]);

/** How long a peer may keep a connection open after the server has ended it. */
const LINGER_MS = 5_000;

/** Defaults of the connection limits; see `ServerOptions`. */
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 64;
export const DEFAULT_SHUTDOWN_DEADLINE_MS = 10_000;

export interface TlsOptions {
  /** PEM certificate chain and private key of the server. */
  cert: string | Buffer;
  key: string | Buffer;
  /** PEM CA certificate(s): when given, clients must present a certificate it signed (mutual TLS). */
  clientCa?: string | Buffer;
}

/** A failure of the connection itself, decided by the server (as opposed to a protocol violation). */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
  constructor(
    readonly code: 'ERR_IDLE_TIMEOUT',
    message: string,
  ) {
    super(message);
  }
}

export interface ServerOptions {
  /** Folder for uploads (default `./received`); ignored when `storage` is given. */
  dir?: string;
  /** `flat` (default): `k.txt` per connection, later connections overwrite. `session`: a sub-folder per connection. */
  layout?: Layout;
  /** Names this server in session folder names (default: random), so servers sharing a folder never collide; ignored with `storage`. */
  instanceId?: string;
  /** A storage of your own (object storage, a test double); overrides `dir` and `layout`. */
  storage?: Storage;
  /** Also save the zero-line message, as the next `k.txt` (empty). */
  saveEmpty?: boolean;
  limits?: Partial<Limits>;
  logger?: Logger;
  /** Close a connection that sends no byte for this long while a count or a message is awaited (default 300 s; 0: never). */
  idleTimeoutMs?: number;
  /** Connections open at once; more are closed as soon as they connect (default 1024). */
  maxConnections?: number;
  /** Connections open at once from one client address (default 64). */
  maxConnectionsPerAddress?: number;
  /** Only these client addresses or CIDR ranges may connect; others are closed at once. */
  allow?: readonly string[];
  /** Serve TLS instead of plain TCP. */
  tls?: TlsOptions;
  /**
   * Every connection starts with a PROXY protocol header (v1 or v2, as HAProxy sends with
   * `send-proxy`): logs, limits and the allowlist see the client it names. A connection without
   * one is closed. Not with `tls` (terminate TLS at the proxy).
   */
  proxyProtocol?: boolean;
}

/** How long a connection may take to send its PROXY protocol header. */
const PROXY_HEADER_TIMEOUT_MS = 5_000;

/** The client at the far end: the socket's peer, or the one a PROXY header names. */
interface Peer {
  address: string;
  port: number;
}

/** How a connection ended. */
export type CloseReason =
  | 'quit'
  | 'rejected'
  | 'truncated'
  | 'client-closed'
  | 'idle-timeout'
  | 'socket-error'
  | 'server-closed';

export interface FileEvent {
  connection: number;
  file: StoredFile;
  lines: number;
  /** From the message's count to the file being stored (just before `A`). */
  ms: number;
  /** Of that, the time storage took to make the file durable and put it in place (flush, rename, folder flush). */
  commitMs: number;
}

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
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.storage =
      options.storage ??
      new DirectoryStorage({
        dir: options.dir ?? 'received',
        layout: options.layout ?? 'flat',
        ...(options.instanceId !== undefined ? { instanceId: options.instanceId } : {}),
      });
    this.allowList = options.allow ? new AllowList(options.allow) : undefined;
    if (options.tls && options.proxyProtocol) {
      throw new TypeError('the PROXY protocol and TLS cannot be combined: terminate TLS at the proxy');
    }
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
        this.logger.warn({ remote, err: errorFields(err) }, `TLS handshake with ${remote} failed: ${err.message}`);
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
            this.logger.warn({ remote, err: errorFields(err) }, `closed ${remote}: ${err.message}`);
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
    log.info({ conn: id, remote }, `connection ${id} from ${remote}`);
    this.emit('connectionOpened', { connection: id, remote });

    const connection = new Connection(socket, id, store, this.options, (event) => {
      log.info(
        { conn: id, file: event.file.name, lines: event.lines, bytes: event.file.bytes, ms: event.ms, path: event.file.location },
        `connection ${id}: saved ${event.file.name} (${plural(event.lines, 'line')}, ${plural(event.file.bytes, 'byte')}) in ${event.ms} ms`,
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
    const text = `connection ${id} from ${remote} closed (${describeReason(reason, error)}): ${plural(connection.files, 'file')}, ${plural(connection.bytes, 'byte')}, ${ms} ms`;
    const fields = { conn: id, remote, reason, files: connection.files, bytes: connection.bytes, ms, ...(error ? { err: errorFields(error) } : {}) };
    if (reason === 'quit' || reason === 'server-closed') log.info(fields, text);
    else if (error && !(error instanceof ProtocolError) && !(error instanceof ConnectionError) && reason === 'rejected') log.error(fields, text);
    else log.warn(fields, text);
    this.emit('connectionClosed', summary);
  }
}

function peerOf(socket: Socket): Peer {
  return { address: normalizeAddress(socket.remoteAddress ?? '?'), port: socket.remotePort ?? 0 };
}

function formatPeer(peer: Peer): string {
  return formatAddress(peer.address, peer.port);
}

/**
 * Reads the PROXY header off a new connection and returns the client it names (the socket's own
 * peer for a LOCAL header). Bytes after the header are put back for the decoder.
 */
function readProxyHeader(socket: Socket): Promise<Peer> {
  socket.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    let head: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new ProxyProtocolError(`no PROXY header within ${PROXY_HEADER_TIMEOUT_MS} ms`)), PROXY_HEADER_TIMEOUT_MS);
    const finish = (err: Error | undefined, peer?: Peer, rest?: Buffer): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      if (err) return reject(err);
      if (rest && rest.length > 0) socket.unshift(rest);
      resolve(peer!);
    };
    const onEnd = (): void => finish(new ProxyProtocolError('the connection ended before its PROXY header'));
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      let parsed;
      try {
        parsed = parseProxyHeader(head);
      } catch (err) {
        return finish(err as Error);
      }
      if (!parsed.done) return;
      const source = parsed.header.source;
      const peer = source ? { address: normalizeAddress(source.address), port: source.port } : peerOf(socket);
      finish(undefined, peer, head.subarray(parsed.length));
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}

const STOP = Symbol('stop');

/** One client's session: decode, store, acknowledge, in order. */
class Connection {
  files = 0;
  bytes = 0;
  private index = 0;
  private sink: FileSink | undefined;
  private messageStarted = 0;
  private readonly decoder: Decoder;
  private stopping = false;
  private wake: (() => void) | undefined;
  private readonly stopped = new Promise<typeof STOP>((resolve) => (this.wake = () => resolve(STOP)));

  constructor(
    private readonly socket: Socket,
    private readonly id: number,
    private readonly store: ConnectionStore,
    private readonly options: ServerOptions,
    private readonly onFile: (event: FileEvent) => void,
  ) {
    this.decoder = new Decoder(options.limits);
    const idle = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    if (idle > 0) {
      socket.setTimeout(idle, () => {
        const what = this.decoder.idle ? 'the next message' : 'the rest of a message';
        socket.destroy(new ConnectionError('ERR_IDLE_TIMEOUT', `no byte for ${idle} ms while waiting for ${what}`));
      });
    }
  }

  /** Asks the connection to end at the next boundary between messages (now, if it is between messages). */
  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  async run(): Promise<{ reason: CloseReason; error?: Error }> {
    const socket = this.socket;
    // Pull one chunk at a time: while a file is being flushed nothing more is read, so a fast
    // client is held back by TCP rather than by memory.
    const chunks = (socket.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<Buffer>)[Symbol.asyncIterator]();
    try {
      for (;;) {
        if (this.stopping && this.decoder.idle) {
          this.finish();
          return { reason: 'server-closed' };
        }
        // Between messages a stop request ends the wait; inside a message the message may finish.
        const read = chunks.next();
        // A read left behind by a stop request may still fail; that must not go unhandled.
        read.catch(() => undefined);
        const next = this.decoder.idle ? await Promise.race([read, this.stopped]) : await read;
        if (next === STOP) continue;
        if (next.done) break;
        const outcome = await this.consume(this.decoder.push(next.value));
        if (outcome === 'quit') {
          this.finish(QUIT);
          return { reason: 'quit' };
        }
        if (outcome === 'stop') {
          this.finish();
          return { reason: 'server-closed' };
        }
      }
      const [event] = this.decoder.end();
      if (event?.type === 'error') throw event.error;
      // The client closed between messages without sending the quit message.
      this.finish();
      return { reason: 'client-closed' };
    } catch (err) {
      await this.discard();
      const error = err instanceof Error ? err : new Error(String(err));
      if (error instanceof ConnectionError) return { reason: 'idle-timeout', error };
      if (socket.destroyed) return { reason: 'socket-error', error };
      this.finish(REJECTED);
      const truncated = error instanceof ProtocolError && error.code === 'ERR_TRUNCATED';
      return { reason: truncated ? 'truncated' : 'rejected', error };
    }
  }

  /** Handles one chunk's events: 'quit' once the quit message is handled, 'stop' when shutting down after an answer. */
  private async consume(events: ReturnType<Decoder['push']>): Promise<'quit' | 'stop' | 'more'> {
    for (const event of events) {
      switch (event.type) {
        case 'start':
          this.index++;
          this.messageStarted = performance.now();
          if (event.lines > 0 || this.options.saveEmpty) this.sink = await this.store.create(this.index);
          break;
        case 'data':
          if (!this.sink!.write(event.data)) await this.sink!.drained();
          break;
        case 'end': {
          if (this.sink) await this.commit(event.lines);
          if (event.lines === 0) return 'quit';
          this.socket.write(ACCEPTED);
          // Shutting down: stop after this answer; what else the chunk held is not answered.
          if (this.stopping) return 'stop';
          break;
        }
        case 'error':
          throw event.error;
      }
    }
    return 'more';
  }

  private async commit(lines: number): Promise<void> {
    const sink = this.sink!;
    this.sink = undefined;
    const committing = performance.now();
    const file = await sink.commit();
    const now = performance.now();
    this.files++;
    this.bytes += file.bytes;
    this.onFile({ connection: this.id, file, lines, ms: Math.round(now - this.messageStarted), commitMs: Math.round((now - committing) * 1000) / 1000 });
  }

  private async discard(): Promise<void> {
    const sink = this.sink;
    this.sink = undefined;
    await sink?.abort();
  }

  /** Sends a last status byte (if any), ends the connection, and destroys it if the peer lingers. */
  private finish(status?: Buffer): void {
    const socket = this.socket;
    socket.setTimeout(0);
    if (socket.destroyed) return;
    if (status && socket.writable) socket.end(status);
    else socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }
}

function describeReason(reason: CloseReason, error?: Error): string {
  const cause = error ? `: ${error instanceof ProtocolError ? `${error.code} ` : ''}${error.message}` : '';
  switch (reason) {
    case 'quit':
      return 'quit';
    case 'rejected':
      return `rejected${cause}`;
    case 'truncated':
      return `client vanished mid-message${cause}`;
    case 'client-closed':
      return 'client closed without the quit message';
    case 'idle-timeout':
      return `idle timeout${cause}`;
    case 'socket-error':
      return `socket error${cause}`;
    case 'server-closed':
      return 'server closed it';
  }
}

function errorFields(error: Error): Record<string, unknown> {
  const code = (error as { code?: unknown }).code;
  return { message: error.message, ...(typeof code === 'string' ? { code } : {}) };
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Creates a server and starts it listening. */
export async function startServer(options: ServerOptions & { port?: number; host?: string } = {}): Promise<LinedropServer> {
  const server = new LinedropServer(options);
  await server.listen(options.port ?? DEFAULT_PORT, options.host);
  return server;
}
