// The window of a connection's messages awaiting their answers: each status byte matched to the
// oldest message waiting, answers no message asked for, room for the next message (`maxInFlight`),
// and the silence timer that runs while the client waits for the server.
import type { Socket } from 'node:net';
import { STATUS_ACCEPTED, statusFromByte, type Status } from '../protocol/status.js';
import { ClientError, formatMs, quote } from './errors.js';

/** At most this many bytes of an unsolicited answer are quoted in the error. */
const QUOTE_BYTES = 16;

/** A message whose status is owed: its number on this connection (from 1), and whether all of it is out. */
export interface Waiter {
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

/** What the window needs of its connection. */
export interface WindowConnection {
  /** Why the connection is closed or closing; undefined while it can carry messages. */
  closedError(): ClientError | undefined;
  /** Messages queued so far on the client (the quit message and those that failed before going out included). */
  queued(): number;
  /** Ends the connection at once: every message still waiting fails with `error`. */
  fail(error: ClientError): void;
  /** The server is ending the connection: nothing more is sent, and `error` is why. */
  stop(error: ClientError): void;
}

export class AnswerWindow {
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

  constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
    private readonly maxInFlight: number,
    private readonly connection: WindowConnection,
  ) {}

  /** Resolves once fewer than `maxInFlight` messages wait for their answers, or the connection is closed. */
  async waitForRoom(): Promise<void> {
    while (!this.connection.closedError() && this.waiters.length >= this.maxInFlight) {
      await new Promise<void>((wake) => {
        this.roomMade = wake;
      });
    }
  }

  /** A message's first byte goes out: it takes the next number on the wire and waits for its answer. */
  open(order: number, quit: boolean, resolve: (status: Status) => void, reject: (err: Error) => void): Waiter {
    const waiter: Waiter = { index: ++this.started, order, sent: false, quit, resolve, reject };
    this.waiters.push(waiter);
    this.updateTimer();
    return waiter;
  }

  /** A message that will never be complete leaves the window without an answer (its call fails on its own). */
  remove(waiter: Waiter): void {
    const at = this.waiters.indexOf(waiter);
    if (at >= 0) this.waiters.splice(at, 1);
  }

  /** The connection is closed: every message still waiting fails with `error`. */
  rejectAll(error: ClientError): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    this.windowMoved();
  }

  /** Status bytes from the server: each answers the oldest message waiting, in order. */
  received(chunk: Buffer): void {
    for (let i = 0; i < chunk.length; i++) {
      if (this.connection.closedError()) return;
      const byte = chunk[i]!;
      const waiter = this.waiters[0];
      if (waiter === undefined) {
        const quoted = chunk.subarray(i, i + QUOTE_BYTES);
        this.connection.fail(
          new ClientError('LINEDROP_ERR_UNSOLICITED', `the server sent ${quote(quoted, chunk.length - i)} that no file asked for; the connection was closed`),
        );
        return;
      }
      if (byte === STATUS_ACCEPTED && !waiter.sent) {
        this.connection.fail(
          new ClientError(
            'LINEDROP_ERR_UNSOLICITED',
            `the server answered "A" to message ${waiter.index} before the client had sent all of it; the connection was closed`,
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
        const why = status === 'R' ? `the server rejected message ${waiter.index}` : `the server answered ${JSON.stringify(status)} to message ${waiter.index}`;
        const stop = new ClientError('LINEDROP_ERR_NOT_ACCEPTED', `not accepted: ${why}, so it ends the connection`);
        // With nothing else on the way the server is left to close; otherwise the client stops at once.
        if (waiter.order < this.connection.queued()) this.connection.fail(stop);
        else this.connection.stop(stop);
        return;
      }
    }
  }

  /** The socket's silence timeout fired. */
  timedOut(): void {
    const silent = formatMs(this.timeoutMs);
    const waiter = this.waiters[0];
    const text =
      this.socket.writableLength > 0
        ? `the server has not read anything for ${silent} (its receive window is full); the connection was closed`
        : `no answer from the server for ${silent}${waiter ? ` (waiting for the status of message ${waiter.index})` : ''}; the connection was closed`;
    this.connection.fail(new ClientError('LINEDROP_ERR_TIMEOUT', text));
  }

  /** A write waits (or no longer waits) for the socket to drain. */
  setDraining(draining: boolean): void {
    this.draining = draining;
    this.updateTimer();
  }

  /** The client waits (or no longer waits) for its caller, not for the server. */
  setWaitingForCaller(waiting: boolean): void {
    this.waitingForCaller = waiting;
    this.updateTimer();
  }

  private windowMoved(): void {
    const wake = this.roomMade;
    this.roomMade = undefined;
    wake?.();
    this.updateTimer();
  }

  /** The silence timer runs only while the client waits for the server: a status owed, or a write it does not take. */
  private updateTimer(): void {
    const armed = this.timeoutMs > 0 && !this.connection.closedError() && !this.waitingForCaller && (this.draining || this.waiters.length > 0);
    if (armed === this.timerArmed) return;
    this.timerArmed = armed;
    this.socket.setTimeout(armed ? this.timeoutMs : 0);
  }
}
