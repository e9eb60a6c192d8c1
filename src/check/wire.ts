import { connect, type Socket } from 'node:net';
import type { ConversationEvent } from './types.js';

/** Bytes kept per `sent`/`received` event of a conversation (lab servers get small messages). */
const MAX_EVENT_BYTES = 4096;

/**
 * The record of one check's conversation with the server: every connection, write, read, close
 * and reset, with its time since the check began.
 */
export class Conversation {
  readonly events: ConversationEvent[] = [];
  private readonly t0 = Date.now();
  private conns = 0;

  /** Number for the next connection of the check: 1, 2, ... */
  nextConn(): number {
    return ++this.conns;
  }

  add(conn: number, kind: ConversationEvent['kind'], detail: { bytes?: Uint8Array; text?: string } = {}): void {
    const event: ConversationEvent = { at: Date.now() - this.t0, conn, kind };
    if (detail.bytes) {
      const b = detail.bytes;
      event.hex = Buffer.from(b.buffer, b.byteOffset, Math.min(b.byteLength, MAX_EVENT_BYTES)).toString('hex');
      if (b.byteLength > MAX_EVENT_BYTES) event.text = `${b.byteLength} bytes (the first ${MAX_EVENT_BYTES} shown)`;
    }
    if (detail.text !== undefined) event.text = detail.text;
    this.events.push(event);
  }

  note(text: string, conn = 0): void {
    this.add(conn, 'note', { text });
  }
}

/** A connection could not be made (refused, timed out, unreachable). */
export class ConnectFailed extends Error {
  override readonly name = 'ConnectFailed';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * One raw TCP connection of the server checker: writes exactly the bytes a check asks for and
 * records every byte the server sends back, and whether and how the server ended the connection.
 * Nothing it does ever throws after connecting; failures are recorded and waits return early.
 */
export class Wire {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  /** The server sent its FIN (what a lab client's `recv()` sees as `b''`). */
  ended = false;
  /** The socket is fully closed (by either side). */
  closed = false;
  /** The socket failed (a reset, a refused write). */
  error: Error | undefined;
  /** This side destroyed the socket. */
  closedByUs = false;
  private waiters: (() => void)[] = [];

  private constructor(
    readonly socket: Socket,
    private readonly talk: Conversation,
    /** This connection's number in the check's conversation. */
    readonly conn: number,
  ) {
    socket.setNoDelay(true);
    talk.add(conn, 'connect', { text: `to ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}` });
    socket.on('data', (chunk: Buffer) => {
      talk.add(conn, 'received', { bytes: chunk });
      this.chunks.push(chunk);
      this.length += chunk.length;
      this.wake();
    });
    socket.on('end', () => {
      talk.add(conn, 'closed', { text: 'the server closed the connection' });
      this.ended = true;
      this.wake();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.error) talk.add(conn, 'reset', { text: err.code === 'ECONNRESET' ? 'the server reset the connection' : `the connection broke: ${err.code ?? err.message}` });
      this.error ??= err;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Connects, giving up after `timeoutMs`; records the attempt in `talk`. @throws ConnectFailed */
  static connect(host: string, port: number, timeoutMs: number, talk: Conversation): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, allowHalfOpen: true });
      const fail = (code: string, message: string): void => {
        talk.add(0, code === 'ETIMEDOUT' ? 'timeout' : 'refused', { text: `connecting to ${host}:${port}: ${message}` });
        reject(new ConnectFailed(code, message));
      };
      const timer = setTimeout(() => {
        socket.destroy();
        fail('ETIMEDOUT', `no answer to the connection request within ${timeoutMs} ms`);
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new Wire(socket, talk, talk.nextConn()));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        fail(err.code ?? 'ERROR', err.message);
      });
    });
  }

  /** Every byte received so far. */
  get data(): Buffer {
    if (this.chunks.length > 1) {
      const all = Buffer.concat(this.chunks, this.length);
      this.chunks.length = 0;
      this.chunks.push(all);
    }
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  get received(): number {
    return this.length;
  }

  /** The server closed its side (FIN), or the connection broke or closed. */
  get serverGone(): boolean {
    return this.ended || this.closed || this.error !== undefined;
  }

  /** Writes bytes and waits until the socket has taken them. Never rejects: a failure is recorded in `error`. */
  write(data: Uint8Array): Promise<void> {
    if (this.socket.destroyed || !this.socket.writable) {
      this.error ??= new Error('the connection is closed; the bytes could not be sent');
      return Promise.resolve();
    }
    this.talk.add(this.conn, 'sent', { bytes: data });
    return new Promise((resolve) => {
      this.socket.write(data, (err) => {
        if (err) this.error ??= err;
        resolve();
      });
    });
  }

  /** Waits until at least `n` bytes have arrived in all, or the server is gone, or `ms` passed. Returns whether they arrived. */
  async waitForBytes(n: number, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.length < n && !this.serverGone && Date.now() < deadline) await this.next(deadline - Date.now());
    return this.length >= n;
  }

  /** Waits until the server ends the connection (FIN, reset or close), at most `ms`. Returns whether it did. */
  async waitForEnd(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.serverGone && Date.now() < deadline) await this.next(deadline - Date.now());
    return this.serverGone;
  }

  /** Waits `ms`, returning early if the server ends the connection. */
  async linger(ms: number): Promise<void> {
    await this.waitForEnd(ms);
  }

  /** Closes this side at once. */
  destroy(): void {
    if (!this.socket.destroyed) {
      this.closedByUs = !this.serverGone;
      this.talk.add(this.conn, 'closed', { text: 'the checker closed the connection' });
    }
    this.socket.destroy();
  }

  /** How the connection stands, for a report: `then the server closed the connection`, ... */
  endText(): string {
    if (this.error && !this.ended) {
      const code = (this.error as NodeJS.ErrnoException).code;
      return `then the connection broke (${code ?? this.error.message})`;
    }
    if (this.ended || (this.closed && !this.closedByUs)) return 'then the server closed the connection';
    return 'the connection still open';
  }

  private next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(ms, 1));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export { sleep } from '../text.js';
