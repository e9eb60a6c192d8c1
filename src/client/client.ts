// One connection to a server (`LinedropClient`): messages queued in order and written, at most
// `maxInFlight` of them ahead of their answers; the answer window (each status byte matched to the
// oldest message waiting, bytes no message asked for, room for the next message, the silence timer
// that runs while the client waits for the server); and what fails when the connection ends. A
// file's bytes come from measure.ts, lines typed by a person from line-stream.ts.
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { encodeCount, encodeMessage, QUIT_MESSAGE, type Line } from '../protocol/encoder.js';
import { STATUS_ACCEPTED, statusFromByte, type Status } from '../protocol/status.js';
import { formatAddress } from '../net-address.js';
import { batchWrites } from '../socket-batch.js';
import { formatDuration, ignore } from '../text.js';
import { openSocket } from './connect.js';
import { ClientError, quote } from './errors.js';
import { streamLines } from './line-stream.js';
import {
  checkShape,
  emptyMessage,
  readOrMeasure,
  shapeOf,
  streamFile,
  unreadable,
  writeBody,
  type FileShape,
  type MessageSink,
} from './measure.js';
import { connectSettings, type ConnectOptions, type SendOptions } from './options.js';

/** At most this many bytes of an unsolicited answer are quoted in the error. */
const QUOTE_BYTES = 16;

/** A message whose status is owed: its number on this connection (from 1), and whether all of it is out. */
interface Waiter {
  /** Its number among the messages that went out on this connection (the server's `k` of `k.txt`). */
  readonly index: number;
  /** Its number among the messages queued on this client (the failed ones included). */
  readonly order: number;
  /** All of its bytes are handed to the socket: from then on an `A` may answer it. */
  sent: boolean;
  /** The zero-line message, whose answer is `Q`. */
  readonly quit: boolean;
  readonly resolve: (status: Status) => void;
  readonly reject: (err: Error) => void;
}

/**
 * One connection to a linedrop (or lab) server. Each `send*` call sends one message and resolves
 * to the status byte the server answered for that message; calls may overlap: their bytes go out
 * in call order without waiting for earlier statuses, at most `maxInFlight` messages ahead of the
 * answers. After an `R` (or any status but `A`) nothing more is sent: the messages still waiting
 * fail with `LINEDROP_ERR_NOT_ACCEPTED`. `quit()` sends the zero-line message and resolves to its status.
 *
 * A send that fails on the client's side (a file that cannot be read or has changed, lines that run
 * out) before the first byte of its message is out rejects and leaves the connection as it was: the
 * messages after it go out and each is matched to its own answer. One that fails once part of its
 * message is out rejects with its own error, and the client closes the connection: the messages
 * still waiting fail with `LINEDROP_ERR_CONNECTION_CLOSED`.
 */
export class LinedropClient {
  private sending: Promise<unknown> = Promise.resolve();
  private closedError: ClientError | undefined;
  private readonly closed: Promise<void>;
  /** Messages queued so far (the quit message included, and those that failed before going out). */
  private queued = 0;
  /** The answer window: the messages whose first byte went out and whose status is owed, oldest first. */
  private readonly waiters: Waiter[] = [];
  /** Messages whose first byte went out: the next one's number on the wire is this plus one. */
  private started = 0;
  /** Wakes a send waiting for room in the window. */
  private roomMade: (() => void) | undefined;
  /** A write waits for the socket to drain. */
  private draining = false;
  /** The client waits for its caller (the next line), not for the server. */
  private waitingForCaller = false;
  private timerArmed = false;

  private constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
    private readonly maxInFlight: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('timeout', () => this.timedOut());
    socket.on('error', (err) => {
      this.closedError ??= new ClientError('LINEDROP_ERR_CONNECTION_CLOSED', `connection lost: ${err.message}`, {
        cause: err,
      });
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

  /**
   * Connects to a server. @throws ClientError `LINEDROP_ERR_CONNECT` when it cannot, `LINEDROP_ERR_CONNECT_TIMEOUT`
   * when it gets no answer in time.
   */
  static async connect(options: ConnectOptions = {}): Promise<LinedropClient> {
    const settings = connectSettings(options);
    return new LinedropClient(await openSocket(settings), settings.timeoutMs, settings.maxInFlight);
  }

  /** The server's end of the connection (`address:port`, `[::1]:port`), for logs. */
  get remote(): string {
    return formatAddress(String(this.socket.remoteAddress), this.socket.remotePort ?? 0);
  }

  /**
   * This end of the connection (`address:port`, `[::1]:port`): what the server logs as the client, directly or through
   * a PROXY header.
   */
  get local(): string {
    return formatAddress(String(this.socket.localAddress), this.socket.localPort ?? 0);
  }

  /**
   * Sends one message made of these lines (without their `\n`).
   * @throws RangeError `LINEDROP_ERR_EMPTY_MESSAGE` for no lines (that would be the quit message); TypeError
   * `LINEDROP_ERR_INVALID_LINE`.
   */
  sendLines(lines: readonly Line[], options: SendOptions = {}): Promise<Status> {
    if (lines.length === 0) return Promise.reject(emptyMessage('the message'));
    let message: Buffer;
    try {
      message = encodeMessage(lines);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(async (out, sent) => {
      await out.write(message);
      sent();
      options.onProgress?.(message.length - 4);
      options.onSent?.();
    });
  }

  /**
   * Sends bytes as one file: split on `\n`, a missing final `\n` added.
   * @throws RangeError `LINEDROP_ERR_EMPTY_MESSAGE` for no bytes; ClientError `LINEDROP_ERR_FILE_TOO_LONG` past 2^32-1
   * lines.
   */
  sendBuffer(body: Uint8Array, options: SendOptions = {}): Promise<Status> {
    const shape = shapeOf(body);
    try {
      if (shape.lines === 0) throw emptyMessage('the data');
      checkShape(shape, 'the data');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue((out, sent) => writeBody(out, body, shape, options, sent));
  }

  /**
   * Sends a file as one message, streamed from disk: split on `\n`, a missing final `\n` added.
   * With `options.shape` the file is not measured again, whatever its size; without it, it is read
   * (up to 1 MiB) or measured at once, while the messages queued before it go out. Its message goes
   * out in call order, like every other.
   *
   * A file that cannot be opened or read, or that no longer matches `shape`, before any byte of its
   * message is out fails with nothing sent: the connection stays open and the messages queued after
   * it go out and are answered as if it had never been asked for (the server numbers only the
   * messages it receives). Once part of it is out, the client closes the connection: the later
   * messages fail with `LINEDROP_ERR_CONNECTION_CLOSED`. Each error says which of the two happened.
   * @throws ClientError `LINEDROP_ERR_EMPTY_FILE` for an empty file, `LINEDROP_ERR_FILE_TOO_LONG` past 2^32-1 lines,
   * ClientError `LINEDROP_ERR_FILE_UNREADABLE` when it cannot be opened or read (the system's error, `ENOENT`,
   * `EACCES`, `EISDIR`..., as its `cause`),
   * `LINEDROP_ERR_FILE_CHANGED` if it changed since it was measured.
   */
  sendFile(path: string, options: SendOptions = {}): Promise<Status> {
    // Read (a small file) or measured now, while the messages before it go out; sent in call order.
    const ready =
      options.shape !== undefined ? Promise.resolve({ shape: options.shape, body: undefined }) : readOrMeasure(path);
    ready.catch(ignore);
    return this.enqueue(async (out, sent) => {
      let file: { shape: FileShape; body: Buffer | undefined };
      try {
        file = await ready;
      } catch (err) {
        throw unreadable(path, err, false);
      }
      checkShape(file.shape, path);
      if (file.body !== undefined) await writeBody(out, file.body, file.shape, options, sent);
      else await streamFile(path, file.shape, out, options, sent);
    });
  }

  /**
   * Sends one message whose lines come one by one (as a person types them): the count goes out
   * at once, each line as soon as it arrives.
   * @throws RangeError `LINEDROP_ERR_EMPTY_MESSAGE` for a count of 0; TypeError `LINEDROP_ERR_INVALID_LINE`;
   * ClientError
   * `LINEDROP_ERR_FILE_CHANGED` if `source` ends before `count` lines (the connection is then closed).
   */
  sendLineStream(count: number, source: AsyncIterable<Line>, options: SendOptions = {}): Promise<Status> {
    if (count === 0) return Promise.reject(emptyMessage('the message'));
    let header: Buffer;
    try {
      header = encodeCount(count);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(async (out, done) => {
      await out.write(header);
      await streamLines(count, source, out, options, done);
    });
  }

  /**
   * Sends the zero-line message and resolves to the server's answer (`Q` from a well-behaved server),
   * then closes its side; `whenClosed()` resolves when the server has closed too (or, if it never
   * does, `timeoutMs` later).
   */
  async quit(): Promise<Status> {
    const status = await this.enqueue(async (out, sent) => {
      await out.write(QUIT_MESSAGE);
      sent();
    }, true);
    this.socket.end();
    // The server closes after its answer; one that never does is closed after the silence timeout.
    if (this.timeoutMs > 0 && !this.socket.destroyed) {
      const timer = setTimeout(() => this.socket.destroy(), this.timeoutMs);
      void this.closed.then(() => clearTimeout(timer));
    }
    return status;
  }

  /**
   * True while the connection can carry more messages: false once it is closed or closing (by the
   * server, after an `R`, or by the client after a message failed part way, a timeout or bytes no
   * message asked for). After a send rejects, true means nothing of that message was sent.
   */
  get usable(): boolean {
    return this.closedError === undefined;
  }

  /** Resolves once the connection is fully closed. */
  whenClosed(): Promise<void> {
    return this.closed;
  }

  /** Closes the connection at once, without the quit message. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Ends the connection for a reason of the client's: every message still waiting fails with it. */
  private fail(error: ClientError): void {
    this.closedError ??= error;
    this.socket.destroy();
    this.shutDown();
  }

  private shutDown(): void {
    this.closedError ??= new ClientError('LINEDROP_ERR_CONNECTION_CLOSED', 'the server closed the connection');
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.closedError);
    this.windowMoved();
  }

  /**
   * Queues a message: its bytes go out after the previous message's, its status is the next one read.
   * It takes its place in the window (and its number on the wire) with its first byte: a send that
   * fails before that leaves the connection as it was, for the messages queued after it. One that
   * fails once part of its message is out closes the connection (the server has a message it cannot
   * complete): its call rejects with its own error, every message still waiting with `LINEDROP_ERR_CONNECTION_CLOSED`.
   */
  private enqueue(send: (out: MessageSink, sent: () => void) => Promise<void>, quit = false): Promise<Status> {
    const order = ++this.queued;
    const status = new Promise<Status>((resolve, reject) => {
      const run = async (): Promise<void> => {
        await this.waitForRoom();
        if (this.closedError) throw this.closedError;
        let waiter: Waiter | undefined;
        const out: MessageSink = {
          write: (data, flushed) => {
            if (waiter === undefined && !this.closedError) waiter = this.openWaiter(order, quit, resolve, reject);
            return this.write(data, flushed);
          },
          waitingForCaller: (waiting) => {
            this.waitingForCaller = waiting;
            this.updateTimer();
          },
        };
        try {
          // `send` calls back once the message's last byte is handed to the socket: from then on an A may come.
          await send(out, () => {
            if (waiter) waiter.sent = true;
          });
        } catch (err) {
          if (waiter !== undefined && !waiter.sent) this.cutShort(waiter, err);
          throw err;
        }
      };
      this.sending = this.sending.then(run, run).catch((err: unknown) => {
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
    return status;
  }

  /** Part of a message is out and the rest never will be: the connection cannot carry another one. */
  private cutShort(waiter: Waiter, err: unknown): void {
    if (this.closedError) return;
    // Its own call fails with its own error; the messages still waiting, with this one.
    const at = this.waiters.indexOf(waiter);
    if (at >= 0) this.waiters.splice(at, 1);
    const why = err instanceof Error ? err.message : String(err);
    this.fail(
      new ClientError(
        'LINEDROP_ERR_CONNECTION_CLOSED',
        `the connection was closed because message ${waiter.index} failed after part of it was sent: ${why}`,
        {
          cause: err,
        },
      ),
    );
  }

  /**
   * Writes (several buffers in order, when given an array), and waits for 'drain' when the socket
   * asks to. `flushed` is called once the socket has handed `data` to the system (then `data` may
   * be reused); not if the connection failed first. What is written in one turn of the event loop
   * leaves in one system call: the socket is corked until the next tick.
   */
  private async write(data: Uint8Array | readonly Uint8Array[], flushed?: () => void): Promise<void> {
    if (this.closedError) throw this.closedError;
    batchWrites(this.socket);
    let written = true;
    if (data instanceof Uint8Array)
      written = flushed ? this.socket.write(data, (err) => err || flushed()) : this.socket.write(data);
    else for (const part of data) written = this.socket.write(part);
    if (written) return;
    this.draining = true;
    this.updateTimer();
    try {
      await Promise.race([once(this.socket, 'drain'), this.closed.then(() => Promise.reject(this.closedError))]);
    } catch (err) {
      // EPIPE, ECONNRESET and the like: the connection is gone, whatever the socket called it.
      throw (
        this.closedError ??
        new ClientError('LINEDROP_ERR_CONNECTION_CLOSED', `connection lost: ${(err as Error).message}`, { cause: err })
      );
    } finally {
      this.draining = false;
      this.updateTimer();
    }
    if (this.closedError) throw this.closedError;
  }

  // The answer window.

  /** Resolves once fewer than `maxInFlight` messages wait for their answers, or the connection is closed. */
  private async waitForRoom(): Promise<void> {
    while (!this.closedError && this.waiters.length >= this.maxInFlight) {
      await new Promise<void>((wake) => {
        this.roomMade = wake;
      });
    }
  }

  /** A message's first byte goes out: it takes the next number on the wire and waits for its answer. */
  private openWaiter(
    order: number,
    quit: boolean,
    resolve: (status: Status) => void,
    reject: (err: Error) => void,
  ): Waiter {
    const waiter: Waiter = { index: ++this.started, order, sent: false, quit, resolve, reject };
    this.waiters.push(waiter);
    this.updateTimer();
    return waiter;
  }

  /** Status bytes from the server: each answers the oldest message waiting, in order. */
  private received(chunk: Buffer): void {
    for (let i = 0; i < chunk.length; i++) {
      if (this.closedError) return;
      const byte = chunk[i]!;
      const waiter = this.waiters[0];
      if (waiter === undefined) {
        const quoted = chunk.subarray(i, i + QUOTE_BYTES);
        this.fail(
          new ClientError(
            'LINEDROP_ERR_UNSOLICITED',
            `the server sent ${quote(quoted, chunk.length - i)} that no file asked for; the connection was closed`,
          ),
        );
        return;
      }
      if (byte === STATUS_ACCEPTED && !waiter.sent) {
        this.fail(
          new ClientError(
            'LINEDROP_ERR_UNSOLICITED',
            `the server answered "A" to message ${waiter.index} before the client had sent all of ` +
              `it; the connection was closed`,
          ),
        );
        return;
      }
      this.waiters.shift();
      this.windowMoved();
      const status = statusFromByte(byte);
      waiter.resolve(status);
      if (byte !== STATUS_ACCEPTED && !waiter.quit) {
        // After R (or an answer this protocol does not have) the server ends the connection:
        // nothing later is stored, so nothing more is sent.
        const why =
          status === 'R'
            ? `the server rejected message ${waiter.index}`
            : `the server answered ${JSON.stringify(status)} to message ${waiter.index}`;
        const stop = new ClientError('LINEDROP_ERR_NOT_ACCEPTED', `not accepted: ${why}, so it ends the connection`);
        // With nothing else on the way the server is left to close; otherwise the client stops at once.
        if (waiter.order < this.queued) this.fail(stop);
        else this.closedError ??= stop;
        return;
      }
    }
  }

  /** The socket's silence timeout fired. */
  private timedOut(): void {
    const silent = formatDuration(this.timeoutMs);
    const waiter = this.waiters[0];
    const text =
      this.socket.writableLength > 0
        ? `the server has not read anything for ${silent} (its receive window is full); the connection was closed`
        : `no answer from the server for ${silent}${waiter ? ` (waiting for the status of message ${waiter.index})` : ''}; the connection was closed`;
    this.fail(new ClientError('LINEDROP_ERR_TIMEOUT', text));
  }

  private windowMoved(): void {
    const wake = this.roomMade;
    this.roomMade = undefined;
    wake?.();
    this.updateTimer();
  }

  /** The silence timer runs only while the client waits for the server: a status owed, or a write it does not take. */
  private updateTimer(): void {
    const armed =
      this.timeoutMs > 0 && !this.closedError && !this.waitingForCaller && (this.draining || this.waiters.length > 0);
    if (armed === this.timerArmed) return;
    this.timerArmed = armed;
    this.socket.setTimeout(armed ? this.timeoutMs : 0);
  }
}
