// One connection to a server (`LinedropClient`): messages queued in order and written, at most
// `maxInFlight` of them ahead of their answers (the answer window, `answer-window.ts`), and what
// fails when the connection ends.
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { encodeCount, encodeMessage, QUIT_MESSAGE, type Line } from '../protocol/encoder.js';
import { batchWrites } from '../socket-batch.js';
import type { Status } from '../protocol/status.js';
import { AnswerWindow, type Waiter } from './answer-window.js';
import { openSocket } from './connect.js';
import { ClientError } from './errors.js';
import { readIfSmall, streamFile, unreadable } from './file-stream.js';
import { streamLines } from './line-stream.js';
import { checkShape, emptyMessage, measureFile, shapeOf, type FileShape } from './measure.js';
import { NEWLINE, type MessageSink } from './message-sink.js';
import { connectSettings, type ConnectOptions, type SendOptions } from './options.js';

export { ClientError, type ClientErrorCode } from './errors.js';
export { checkShape, measureFile, shapeOf, type FileShape } from './measure.js';
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HOST,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_CLIENT_TIMEOUT_MS,
  type ClientTlsOptions,
  type ConnectOptions,
  type SendOptions,
} from './options.js';

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
  private readonly window: AnswerWindow;
  private sending: Promise<unknown> = Promise.resolve();
  private closedError: ClientError | undefined;
  private readonly closed: Promise<void>;
  /** Messages queued so far (the quit message included, and those that failed before going out). */
  private queued = 0;

  private constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
    maxInFlight: number,
  ) {
    this.window = new AnswerWindow(socket, timeoutMs, maxInFlight, {
      closedError: () => this.closedError,
      queued: () => this.queued,
      fail: (error) => this.fail(error),
      stop: (error) => {
        this.closedError ??= error;
      },
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.window.received(chunk));
    socket.on('timeout', () => this.window.timedOut());
    socket.on('error', (err) => {
      this.closedError ??= new ClientError('LINEDROP_ERR_CONNECTION_CLOSED', `connection lost: ${err.message}`, { cause: err });
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

  /** Connects to a server. @throws ClientError `LINEDROP_ERR_CONNECT` when it cannot, `LINEDROP_ERR_CONNECT_TIMEOUT` when it gets no answer in time. */
  static async connect(options: ConnectOptions = {}): Promise<LinedropClient> {
    const settings = connectSettings(options);
    return new LinedropClient(await openSocket(settings), settings.timeoutMs, settings.maxInFlight);
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
   * @throws RangeError `LINEDROP_ERR_EMPTY_MESSAGE` for no lines (that would be the quit message); TypeError `LINEDROP_ERR_INVALID_LINE`.
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
   * @throws RangeError `LINEDROP_ERR_EMPTY_MESSAGE` for no bytes; ClientError `LINEDROP_ERR_FILE_TOO_LONG` past 2^32-1 lines.
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
   * @throws ClientError `LINEDROP_ERR_EMPTY_FILE` for an empty file, `LINEDROP_ERR_FILE_TOO_LONG` past 2^32-1 lines, `LINEDROP_ERR_FILE_UNREADABLE` when
   * it cannot be opened or read (the system's error, `ENOENT`, `EACCES`, `EISDIR`..., as its `cause`),
   * `LINEDROP_ERR_FILE_CHANGED` if it changed since it was measured.
   */
  sendFile(path: string, options: SendOptions = {}): Promise<Status> {
    // Read (a small file) or measured now, while the messages before it go out; sent in call order.
    const ready = options.shape !== undefined ? Promise.resolve({ shape: options.shape, body: undefined }) : readOrMeasure(path);
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
   * @throws RangeError `LINEDROP_ERR_EMPTY_MESSAGE` for a count of 0, `LINEDROP_ERR_COUNT_OUT_OF_RANGE`; TypeError
   * `LINEDROP_ERR_INVALID_LINE`; ClientError `LINEDROP_ERR_FILE_CHANGED` if `source` ends before `count` lines (the
   * connection is then closed).
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
    this.window.rejectAll(this.closedError);
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
        await this.window.waitForRoom();
        if (this.closedError) throw this.closedError;
        let waiter: Waiter | undefined;
        const out: MessageSink = {
          write: (data, flushed) => {
            if (waiter === undefined && !this.closedError) waiter = this.window.open(order, quit, resolve, reject);
            return this.write(data, flushed);
          },
          waitingForCaller: (waiting) => this.window.setWaitingForCaller(waiting),
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
    this.window.remove(waiter);
    const why = err instanceof Error ? err.message : String(err);
    this.fail(
      new ClientError('LINEDROP_ERR_CONNECTION_CLOSED', `the connection was closed because message ${waiter.index} failed after part of it was sent: ${why}`, {
        cause: err,
      }),
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
    if (data instanceof Uint8Array) written = flushed ? this.socket.write(data, (err) => err || flushed()) : this.socket.write(data);
    else for (const part of data) written = this.socket.write(part);
    if (written) return;
    this.window.setDraining(true);
    try {
      await Promise.race([once(this.socket, 'drain'), this.closed.then(() => Promise.reject(this.closedError))]);
    } catch (err) {
      // EPIPE, ECONNRESET and the like: the connection is gone, whatever the socket called it.
      throw this.closedError ?? new ClientError('LINEDROP_ERR_CONNECTION_CLOSED', `connection lost: ${(err as Error).message}`, { cause: err });
    } finally {
      this.window.setDraining(false);
    }
    if (this.closedError) throw this.closedError;
  }
}

function ignore(): void {}

/** A small file read whole and counted in memory; a larger one measured, to be streamed. */
async function readOrMeasure(path: string): Promise<{ shape: FileShape; body: Buffer | undefined }> {
  const body = await readIfSmall(path);
  return body !== undefined ? { shape: shapeOf(body), body } : { shape: await measureFile(path), body: undefined };
}

/** Bytes held in memory as one message: the count, the bytes, and the final `\n` they may lack. */
async function writeBody(out: MessageSink, body: Uint8Array, shape: FileShape, options: SendOptions, sent: () => void): Promise<void> {
  await out.write(shape.addsNewline ? [encodeCount(shape.lines), body, NEWLINE] : [encodeCount(shape.lines), body]);
  sent();
  options.onProgress?.(body.length);
  options.onSent?.();
}
