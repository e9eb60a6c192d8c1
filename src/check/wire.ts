// The checker's side of a connection: connect, write, read status bytes, wait with time limits, record the
// conversation.
import { LinedropError } from '../errors.js';
import { connect, type Socket } from 'node:net';
import type { Conversation } from './conversation.js';

/** A connection could not be made (refused, timed out, unreachable). */
export class ConnectFailedError extends LinedropError<'LINEDROP_ERR_CHECK_CONNECT'> {
  override name = 'ConnectFailedError';
  constructor(
    /** The system's code: `ECONNREFUSED`, `ETIMEDOUT`, ... */
    readonly reason: string,
    message: string,
  ) {
    super('LINEDROP_ERR_CHECK_CONNECT', message);
  }
}

/** Bytes a server may put after a status byte (`A\n`): not counted as statuses. */
const FILLER = new Set([0x0a, 0x0d, 0x20, 0x00]);

/**
 * One raw TCP connection of the server checker: writes exactly the bytes a check asks for and
 * records every byte the server sends back, and whether and how the server ended the connection.
 * Nothing it does ever throws after connecting; failures are recorded and waits return early.
 *
 * Once the server has closed its side, the checker ends the connection with a reset, not a FIN:
 * the side that closes first otherwise waits in TIME_WAIT for a minute, and a lab server (no
 * SO_REUSEADDR) could not listen on its port again until then.
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
  private statuses = 0;
  /** Called with each chunk as it arrives, before any waiting check wakes up (to look at files at that very moment). */
  onBytes: ((chunk: Buffer) => void) | undefined;

  private constructor(
    readonly socket: Socket,
    private readonly talk: Conversation,
    /** This connection's number in the check's conversation. */
    readonly conn: number,
  ) {
    socket.setNoDelay(true);
    talk.add(conn, 'connect', { text: `to ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}` });
    socket.on('data', (chunk: Buffer) => {
      this.onBytes?.(chunk);
      talk.add(conn, 'received', { bytes: chunk });
      this.chunks.push(chunk);
      this.length += chunk.length;
      for (const byte of chunk) if (!FILLER.has(byte)) this.statuses++;
      this.wake();
    });
    socket.on('end', () => {
      talk.add(conn, 'closed', { text: 'the server closed the connection' });
      this.ended = true;
      // Answer the server's close with a reset: its side then leaves no TIME_WAIT behind.
      if (!socket.destroyed) {
        talk.add(conn, 'closed', {
          text: "the checker closed its side with a reset (the server's " + 'port is left free, not in TIME_WAIT)',
        });
        socket.resetAndDestroy();
      }
      this.wake();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.error)
        talk.add(conn, 'reset', {
          text:
            err.code === 'ECONNRESET'
              ? 'the server reset the connection'
              : `the connection broke: ${err.code ?? err.message}`,
        });
      this.error ??= err;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /**
   * Connects, giving up after `timeoutMs`; records the attempt in `talk` (a failed one only with `recordFailure`).
   * @throws ConnectFailedError
   */
  static connect(
    host: string,
    port: number,
    timeoutMs: number,
    talk: Conversation,
    recordFailure = true,
  ): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, allowHalfOpen: true });
      const fail = (code: string, message: string): void => {
        if (recordFailure)
          talk.add(0, code === 'ETIMEDOUT' ? 'timeout' : 'refused', {
            text: `connecting to ${host}:${port}: ${message}`,
          });
        reject(new ConnectFailedError(code, message));
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

  /**
   * Waits until at least `n` bytes have arrived in all, or the server is gone, or `ms` passed. Returns whether they
   * arrived.
   */
  async waitForBytes(n: number, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.length < n && !this.serverGone && Date.now() < deadline) await this.next(deadline - Date.now());
    return this.length >= n;
  }

  /** Status bytes received so far (bytes other than \n, \r, space and NUL). */
  get statusCount(): number {
    return this.statuses;
  }

  /** Waits until at least `n` status bytes have arrived (see `statusCount`), or the server is gone, or `ms` passed. */
  async waitForStatuses(n: number, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.statuses < n && !this.serverGone && Date.now() < deadline) await this.next(deadline - Date.now());
    return this.statuses >= n;
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

  /**
   * Closes this side at once: a FIN while the server still holds the connection (what a client
   * that vanishes does), a reset once the server has closed or broken it (no TIME_WAIT for it).
   */
  destroy(): void {
    if (this.socket.destroyed) return;
    if (this.serverGone) {
      this.talk.add(this.conn, 'closed', { text: 'the checker closed its side with a reset' });
      this.socket.resetAndDestroy();
      return;
    }
    this.closedByUs = true;
    this.talk.add(this.conn, 'closed', { text: 'the checker closed the connection' });
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
