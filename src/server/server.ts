import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Decoder } from '../protocol/decoder.js';
import { ProtocolError } from '../protocol/errors.js';
import type { Limits } from '../protocol/limits.js';
import { STATUS_ACCEPTED, STATUS_QUIT, STATUS_REJECTED } from '../protocol/status.js';
import { DirectoryStorage } from '../storage/directory.js';
import type { ConnectionStore, FileSink, Layout, Storage, StoredFile } from '../storage/types.js';
import { plural } from '../text.js';
import { silentLogger, type Logger } from './logger.js';

export const DEFAULT_PORT = 12100;

const ACCEPTED = Buffer.from([STATUS_ACCEPTED]);
const QUIT = Buffer.from([STATUS_QUIT]);
const REJECTED = Buffer.from([STATUS_REJECTED]);

/** How long a peer may keep a connection open after the server has ended it. */
const LINGER_MS = 5_000;

export interface ServerOptions {
  /** Folder for uploads (default `./received`); ignored when `storage` is given. */
  dir?: string;
  /** `flat` (default): `k.txt` per connection, later connections overwrite. `session`: a sub-folder per connection. */
  layout?: Layout;
  /** A storage of your own (object storage, a test double); overrides `dir` and `layout`. */
  storage?: Storage;
  /** Also save the zero-line message, as the next `k.txt` (empty). */
  saveEmpty?: boolean;
  limits?: Partial<Limits>;
  logger?: Logger;
}

/** How a connection ended. */
export type CloseReason = 'quit' | 'rejected' | 'truncated' | 'client-closed' | 'socket-error' | 'server-closed';

export interface FileEvent {
  connection: number;
  file: StoredFile;
  lines: number;
  ms: number;
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

export interface LinedropServerEvents {
  connectionOpened: [{ connection: number; remote: string }];
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
  private readonly sockets = new Set<Socket>();
  private readonly running = new Set<Promise<void>>();
  private connectionCount = 0;
  private closing = false;
  private initialised: Promise<void> | undefined;

  constructor(options: ServerOptions = {}) {
    super();
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.storage =
      options.storage ?? new DirectoryStorage({ dir: options.dir ?? 'received', layout: options.layout ?? 'flat' });
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
  }

  /** Prepares storage and starts listening. Port 0 picks a free port; `address()` tells which. */
  async listen(port: number = DEFAULT_PORT, host?: string): Promise<AddressInfo> {
    this.initialised ??= this.storage.init().then((removed) => {
      if (removed > 0) this.logger.warn({ removed }, `removed ${removed} temporary file(s) left by an earlier run`);
    });
    await this.initialised;
    this.server.listen(port, host);
    await once(this.server, 'listening');
    const address = this.address();
    this.logger.info(
      { host: address.address, port: address.port, storage: this.storage.location },
      `listening on ${formatAddress(address.address, address.port)}, saving to ${this.storage.location}`,
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
    return this.sockets.size;
  }

  /** Stops accepting connections; the ones open go on. */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }

  /** Resolves when every connection open now has ended. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** Stops accepting, ends every connection at once (partial files are discarded), and resolves when all is closed. */
  async close(): Promise<void> {
    this.closing = true;
    this.stopAccepting();
    for (const socket of this.sockets) socket.destroy();
    await this.idle();
  }

  private accept(socket: Socket): void {
    const id = ++this.connectionCount;
    this.sockets.add(socket);
    const done = this.serve(socket, id).finally(() => {
      this.sockets.delete(socket);
      this.running.delete(done);
    });
    this.running.add(done);
  }

  private async serve(socket: Socket, id: number): Promise<void> {
    const started = performance.now();
    const remote = formatAddress(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    const log = this.logger;
    // A socket error ends the iteration below with that error; this keeps it from being unhandled.
    socket.on('error', () => undefined);
    const store = this.storage.openConnection({
      id,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
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
    const result = await connection.run();
    const error = result.error;
    const reason = this.closing && result.reason === 'socket-error' ? 'server-closed' : result.reason;
    const ms = Math.round(performance.now() - started);
    const summary: ConnectionSummary = { connection: id, remote, files: connection.files, bytes: connection.bytes, reason, ms };
    if (error) summary.error = error;
    const text = `connection ${id} from ${remote} closed (${describeReason(reason, error)}): ${plural(connection.files, 'file')}, ${plural(connection.bytes, 'byte')}, ${ms} ms`;
    const fields = { conn: id, remote, reason, files: connection.files, bytes: connection.bytes, ms, ...(error ? { err: errorFields(error) } : {}) };
    if (reason === 'quit' || reason === 'server-closed') log.info(fields, text);
    else log.warn(fields, text);
    this.emit('connectionClosed', summary);
  }
}

/** One client's session: decode, store, acknowledge, in order. */
class Connection {
  files = 0;
  bytes = 0;
  private index = 0;
  private sink: FileSink | undefined;
  private messageStarted = 0;
  private readonly decoder: Decoder;

  constructor(
    private readonly socket: Socket,
    private readonly id: number,
    private readonly store: ConnectionStore,
    private readonly options: ServerOptions,
    private readonly onFile: (event: FileEvent) => void,
  ) {
    this.decoder = new Decoder(options.limits);
  }

  async run(): Promise<{ reason: CloseReason; error?: Error }> {
    const socket = this.socket;
    try {
      // Pull one chunk at a time: while a file is being flushed nothing more is read, so a fast
      // client is held back by TCP rather than by memory.
      for await (const chunk of socket.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        if (await this.consume(this.decoder.push(chunk))) {
          this.finish(QUIT);
          return { reason: 'quit' };
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
      if (socket.destroyed) {
        return { reason: socket.errored || !(error instanceof ProtocolError) ? 'socket-error' : 'truncated', error };
      }
      if (error instanceof ProtocolError && error.code === 'ERR_TRUNCATED') {
        this.finish(REJECTED);
        return { reason: 'truncated', error };
      }
      this.finish(REJECTED);
      return { reason: 'rejected', error };
    }
  }

  /** Handles one chunk's events. Returns true once the quit message has been handled. */
  private async consume(events: ReturnType<Decoder['push']>): Promise<boolean> {
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
          if (event.lines === 0) return true;
          this.socket.write(ACCEPTED);
          break;
        }
        case 'error':
          throw event.error;
      }
    }
    return false;
  }

  private async commit(lines: number): Promise<void> {
    const sink = this.sink!;
    this.sink = undefined;
    const file = await sink.commit();
    this.files++;
    this.bytes += file.bytes;
    this.onFile({ connection: this.id, file, lines, ms: Math.round(performance.now() - this.messageStarted) });
  }

  private async discard(): Promise<void> {
    const sink = this.sink;
    this.sink = undefined;
    await sink?.abort();
  }

  /** Sends a last status byte (if any), ends the connection, and destroys it if the peer lingers. */
  private finish(status?: Buffer): void {
    const socket = this.socket;
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
