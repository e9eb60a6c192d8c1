import { once } from 'node:events';
import { open, stat } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { countLineFeeds } from '../protocol/line-scanner.js';
import { encodeCount, encodeMessage, QUIT_MESSAGE, type Line } from '../protocol/encoder.js';
import { ProtocolError } from '../protocol/errors.js';
import { MAX_WIRE_COUNT } from '../protocol/limits.js';
import { statusFromByte, type Status } from '../protocol/status.js';

export const DEFAULT_HOST = 'localhost';

const LF = 0x0a;
const NEWLINE = Buffer.from([LF]);
/** Files up to this size are read once into memory; larger ones are read twice (count, then send). */
const SMALL_FILE = 1024 * 1024;
/** Larger files are read and sent in chunks of this size, the next read overlapping the send. */
const SEND_CHUNK = 1024 * 1024;
/** `measureFile` reads in blocks of this size, into two buffers it reuses. */
const MEASURE_CHUNK = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

function ignore(): void {}

export type ClientErrorCode = 'ERR_CONNECTION_CLOSED' | 'ERR_CONNECT' | 'ERR_FILE_CHANGED';

/** A failure of the connection or of a local file, as opposed to a status the server sent. */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ConnectOptions {
  host?: string;
  port?: number;
  /** Give up connecting after this many milliseconds (default 10 s). */
  connectTimeoutMs?: number;
  /** Connect with TLS (`true`: verify the server against the system's CAs). */
  tls?: boolean | ClientTlsOptions;
}

export interface ClientTlsOptions {
  /** PEM CA certificate(s) to verify the server with, instead of the system's. */
  ca?: string | Buffer;
  /** PEM client certificate and key, for servers that require them (mutual TLS). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Name to verify the server's certificate against (default: the host). */
  servername?: string;
}

export interface SendOptions {
  /** Called as body bytes are handed to the socket, with the running total for this file. */
  onProgress?: (bytesSent: number) => void;
  /** Called once every byte of the message has been handed to the socket; the status comes next. */
  onSent?: () => void;
  /**
   * `sendFile` only: the file's shape as `measureFile` gave it, when the caller has measured it
   * already; the file is then read once instead of twice. It is still checked while it is sent:
   * a file that no longer matches fails with `ERR_FILE_CHANGED`.
   */
  shape?: FileShape;
}

/** What the client knows about a file before sending it. */
export interface FileShape {
  lines: number;
  bytes: number;
  /** True when the last line has no `\n`; the client adds it. */
  addsNewline: boolean;
}

interface Waiter {
  resolve: (status: Status) => void;
  reject: (err: Error) => void;
}

/**
 * One connection to a linedrop (or lab) server. Each `send*` call sends one message and resolves
 * to the status byte the server answered, in order; calls may overlap (they are queued and
 * pipelined). `quit()` sends the zero-line message and resolves to the last status.
 */
export class LinedropClient {
  private readonly waiters: Waiter[] = [];
  private sending: Promise<unknown> = Promise.resolve();
  private closedError: Error | undefined;
  private readonly closed: Promise<void>;
  /** Status bytes that arrived with no message waiting for them. */
  readonly unexpected: Status[] = [];

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      for (const byte of chunk) {
        const status = statusFromByte(byte);
        const waiter = this.waiters.shift();
        if (waiter) waiter.resolve(status);
        else this.unexpected.push(status);
      }
    });
    socket.on('error', (err) => {
      this.closedError ??= new ClientError('ERR_CONNECTION_CLOSED', `connection lost: ${err.message}`, { cause: err });
    });
    // The server closed its side: no status can come any more, so nothing is left to send.
    socket.on('end', () => {
      this.shutDown();
      socket.end();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.shutDown();
        resolve();
      });
    });
  }

  /** Connects to a server. @throws ClientError `ERR_CONNECT` when it cannot. */
  static async connect(options: ConnectOptions = {}): Promise<LinedropClient> {
    const host = options.host ?? DEFAULT_HOST;
    const port = options.port ?? 12100;
    const tls = options.tls === true ? {} : options.tls || undefined;
    const socket = tls
      ? connectTls(tlsOptions(host, port, tls))
      : connect({ host, port, allowHalfOpen: true });
    socket.setTimeout(options.connectTimeoutMs ?? 10_000, () =>
      socket.destroy(new Error(`timed out after ${options.connectTimeoutMs ?? 10_000} ms`)),
    );
    try {
      await once(socket, tls ? 'secureConnect' : 'connect');
    } catch (err) {
      socket.destroy();
      throw new ClientError('ERR_CONNECT', `cannot connect to ${host}:${port}: ${(err as Error).message}`, { cause: err });
    }
    socket.setTimeout(0);
    return new LinedropClient(socket);
  }

  /** The socket's local and remote ends, for logs. */
  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  /** This end of the connection (`address:port`): what the server logs as the client, directly or through a PROXY header. */
  get local(): string {
    return `${this.socket.localAddress}:${this.socket.localPort}`;
  }

  /**
   * Sends one message made of these lines (without their `\n`).
   * @throws ProtocolError `ERR_EMPTY_FILE` for no lines (that would be the quit message), `ERR_INVALID_LINE`.
   */
  sendLines(lines: readonly Line[], options: SendOptions = {}): Promise<Status> {
    if (lines.length === 0) return Promise.reject(emptyFile('the message'));
    let message: Buffer;
    try {
      message = encodeMessage(lines);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(async () => {
      await this.write(message);
      options.onProgress?.(message.length - 4);
      options.onSent?.();
    });
  }

  /**
   * Sends bytes as one file: split on `\n`, a missing final `\n` added.
   * @throws ProtocolError `ERR_EMPTY_FILE` for no bytes.
   */
  sendBuffer(body: Uint8Array, options: SendOptions = {}): Promise<Status> {
    const shape = shapeOf(body);
    try {
      checkShape(shape, 'the data');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(async () => {
      await this.write(encodeCount(shape.lines));
      await this.write(body);
      if (shape.addsNewline) await this.write(NEWLINE);
      options.onProgress?.(body.length);
      options.onSent?.();
    });
  }

  /**
   * Sends a file as one message, streamed from disk: split on `\n`, a missing final `\n` added.
   * @throws ProtocolError `ERR_EMPTY_FILE` for an empty file; ClientError `ERR_FILE_CHANGED` if it changed while being sent.
   */
  async sendFile(path: string, options: SendOptions = {}): Promise<Status> {
    const info = await stat(path);
    if (info.size <= SMALL_FILE) {
      const handle = await open(path, 'r');
      let body: Buffer;
      try {
        body = await handle.readFile();
      } finally {
        await handle.close();
      }
      checkShape(shapeOf(body), path);
      return this.sendBuffer(body, options);
    }
    const shape = options.shape ?? (await measureFile(path));
    checkShape(shape, path);
    return this.enqueue(async () => {
      const handle = await open(path, 'r');
      // Chunks are read into buffers that are reused once the socket has sent them (it has when a
      // write waited for 'drain'); a buffer the socket may still hold is left to it.
      const spare: Buffer[] = [];
      let position = 0;
      const readChunk = async (): Promise<Buffer> => {
        const want = Math.min(SEND_CHUNK, shape.bytes - position);
        if (want <= 0) return EMPTY;
        const buf = spare.pop() ?? Buffer.allocUnsafe(SEND_CHUNK);
        const { bytesRead } = await handle.read(buf, 0, want, position);
        position += bytesRead;
        return buf.subarray(0, bytesRead);
      };
      let next: Promise<Buffer> = Promise.resolve(EMPTY);
      let failure: unknown;
      try {
        next = readChunk();
        next.catch(ignore);
        await this.write(encodeCount(shape.lines));
        let sent = 0;
        let newlines = 0;
        let last = LF;
        for (;;) {
          const chunk = await next;
          if (chunk.length === 0) break;
          // Read the next chunk while this one goes out.
          next = readChunk();
          next.catch(ignore);
          newlines += countNewlines(chunk);
          last = chunk[chunk.length - 1]!;
          // (The whole buffer the chunk was read into: chunks are views of SEND_CHUNK-byte buffers.)
          if (await this.write(chunk)) spare.push(Buffer.from(chunk.buffer, chunk.byteOffset, SEND_CHUNK));
          sent += chunk.length;
          options.onProgress?.(sent);
        }
        const lines = newlines + (last === LF ? 0 : 1);
        if (sent !== shape.bytes || lines !== shape.lines) {
          // The count already sent no longer matches the lines: the stream cannot be repaired.
          throw new ClientError('ERR_FILE_CHANGED', `${path} changed while it was being sent`);
        }
        if (last !== LF) await this.write(NEWLINE);
        options.onSent?.();
      } catch (err) {
        failure = err;
      }
      await next.catch(ignore);
      await handle.close().catch(ignore);
      if (failure !== undefined) {
        // Part of the message may be out: the connection cannot carry another one.
        this.socket.destroy(failure instanceof Error ? failure : undefined);
        throw failure;
      }
    });
  }

  /**
   * Sends one message whose lines come one by one (as a person types them): the count goes out
   * at once, each line as soon as it arrives.
   * @throws ProtocolError `ERR_EMPTY_FILE` for a count of 0, `ERR_INVALID_LINE`; ClientError
   * `ERR_FILE_CHANGED` if `source` ends before `count` lines (the connection is then closed).
   */
  sendLineStream(count: number, source: AsyncIterable<Line>, options: SendOptions = {}): Promise<Status> {
    if (count === 0) return Promise.reject(emptyFile('the message'));
    let header: Buffer;
    try {
      header = encodeCount(count);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(async () => {
      await this.write(header);
      let sent = 0;
      for await (const line of source) {
        if (typeof line === 'string' ? line.includes('\n') : line.includes(LF)) {
          const err = new ProtocolError('ERR_INVALID_LINE', `line ${sent + 1} contains a newline`);
          this.socket.destroy(err);
          throw err;
        }
        await this.write(typeof line === 'string' ? Buffer.from(`${line}\n`) : Buffer.concat([line, NEWLINE]));
        if (++sent === count) {
          options.onSent?.();
          return;
        }
      }
      const err = new ClientError('ERR_FILE_CHANGED', `the lines ran out after ${sent} of ${count}; the message cannot be completed`);
      this.socket.destroy(err);
      throw err;
    });
  }

  /** Sends the zero-line message and resolves to the server's answer (`Q` from a well-behaved server), then closes. */
  async quit(): Promise<Status> {
    const status = await this.enqueue(async () => {
      await this.write(QUIT_MESSAGE);
    });
    this.socket.end();
    return status;
  }

  /** Resolves once the connection is fully closed. */
  whenClosed(): Promise<void> {
    return this.closed;
  }

  /** Closes the connection at once, without the quit message. */
  destroy(): void {
    this.socket.destroy();
  }

  private shutDown(): void {
    this.closedError ??= new ClientError('ERR_CONNECTION_CLOSED', 'the server closed the connection');
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.closedError);
  }

  /** Queues a message: its bytes go out after the previous message's, its status is the next one read. */
  private enqueue(send: () => Promise<void>): Promise<Status> {
    const status = new Promise<Status>((resolve, reject) => {
      const run = async (): Promise<void> => {
        if (this.closedError) throw this.closedError;
        this.waiters.push({ resolve, reject });
        await send();
      };
      this.sending = this.sending.then(run, run).catch((err: unknown) => {
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
    return status;
  }

  /**
   * Writes, and waits for 'drain' when the socket asks to. Resolves to true when it waited: then
   * every byte written so far has left the socket's buffer, and `data` may be reused.
   */
  private async write(data: Uint8Array): Promise<boolean> {
    if (this.closedError) throw this.closedError;
    if (this.socket.write(data)) return false;
    try {
      await Promise.race([once(this.socket, 'drain'), this.closed.then(() => Promise.reject(this.closedError))]);
    } catch (err) {
      // EPIPE, ECONNRESET and the like: the connection is gone, whatever the socket called it.
      throw this.closedError ?? new ClientError('ERR_CONNECTION_CLOSED', `connection lost: ${(err as Error).message}`, { cause: err });
    }
    return true;
  }
}

/** @throws ProtocolError `ERR_EMPTY_FILE` or `ERR_COUNT_OUT_OF_RANGE` for what cannot be sent as one message. */
export function checkShape(shape: FileShape, what: string): void {
  if (shape.lines === 0) throw emptyFile(what);
  if (shape.lines > MAX_WIRE_COUNT) {
    throw new ProtocolError('ERR_COUNT_OUT_OF_RANGE', `${what} has ${shape.lines} lines; the wire carries at most ${MAX_WIRE_COUNT}`);
  }
}

function emptyFile(what: string): ProtocolError {
  return new ProtocolError(
    'ERR_EMPTY_FILE',
    `${what} has no lines; a zero-line message means "quit" on this protocol, so an empty file cannot be sent`,
  );
}

function tlsOptions(host: string, port: number, tls: ClientTlsOptions): ConnectionOptions {
  const options: ConnectionOptions & { allowHalfOpen?: boolean } = { host, port, allowHalfOpen: true };
  if (tls.ca !== undefined) options.ca = tls.ca;
  if (tls.cert !== undefined) options.cert = tls.cert;
  if (tls.key !== undefined) options.key = tls.key;
  // SNI takes host names only; an IP literal is still checked against the certificate's IP entries.
  const servername = tls.servername ?? (/^[\d.]+$/.test(host) || host.includes(':') ? undefined : host);
  if (servername !== undefined) options.servername = servername;
  return options;
}

export function countNewlines(buf: Uint8Array): number {
  return countLineFeeds(Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
}

/** Lines and bytes of data about to be sent as one file. */
export function shapeOf(body: Uint8Array): FileShape {
  const newlines = countNewlines(body);
  const addsNewline = body.length > 0 && body[body.length - 1] !== LF;
  return { lines: newlines + (addsNewline ? 1 : 0), bytes: body.length, addsNewline };
}

/** Reads a file once to count its lines. */
export async function measureFile(path: string): Promise<FileShape> {
  const handle = await open(path, 'r');
  const buffers = [Buffer.allocUnsafe(MEASURE_CHUNK), Buffer.allocUnsafe(MEASURE_CHUNK)] as const;
  let bytes = 0;
  let newlines = 0;
  let last = LF;
  let turn = 0;
  const read = (buf: Buffer): Promise<number> => handle.read(buf, 0, buf.length, null).then((r) => r.bytesRead);
  let next = read(buffers[0]);
  try {
    for (;;) {
      const got = await next;
      if (got === 0) break;
      const buf = buffers[turn]!;
      turn ^= 1;
      // Read the next block into the other buffer while this one is counted.
      next = read(buffers[turn]!);
      next.catch(ignore);
      const chunk = got === buf.length ? buf : buf.subarray(0, got);
      bytes += got;
      newlines += countLineFeeds(chunk);
      last = chunk[got - 1]!;
    }
  } finally {
    await next.catch(ignore);
    await handle.close();
  }
  const addsNewline = bytes > 0 && last !== LF;
  return { lines: newlines + (addsNewline ? 1 : 0), bytes, addsNewline };
}
