// One connection of the server: read, decode, store, answer A/Q/R in order, with commits pipelined.
import { LinedropError } from '../errors.js';
import type { Socket } from 'node:net';
import { Decoder } from '../protocol/decoder.js';
import { batchWrites } from '../socket-batch.js';
import { ProtocolError } from '../protocol/errors.js';
import { STATUS_ACCEPTED, STATUS_QUIT, STATUS_REJECTED } from '../protocol/status.js';
import type { ConnectionStore, FileSink, StoredFile } from '../storage/types.js';
import type { ConnectionOptions } from './options.js';

const ACCEPTED = Buffer.from([STATUS_ACCEPTED]);
const QUIT = Buffer.from([STATUS_QUIT]);
const REJECTED = Buffer.from([STATUS_REJECTED]);

/**
 * Bytes of the messages of one connection being committed at once, past which the server reads
 * on only once the oldest is answered (a single larger message still goes alone). Their data may
 * still be queued for the disk, so this bounds a connection's memory whatever `maxInFlight` is.
 */
const MAX_BYTES_IN_FLIGHT = 16 * 1024 * 1024;

/** How long a peer may keep a connection open after the server has ended it. */
const LINGER_MS = 5_000;

/** A failure of the connection itself, decided by the server (as opposed to a protocol violation). */
export class ConnectionError extends LinedropError<'LINEDROP_ERR_IDLE_TIMEOUT'> {
  override name = 'ConnectionError';
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

const STOP = Symbol('stop');

/**
 * One client's session: decode, store, acknowledge, in order.
 *
 * Commits overlap (when the storage allows it, `orderedCommits`): once a message is whole, its
 * commit starts and the next message is read and written at once; up to `maxInFlight` commits
 * run at a time. The answers go out in message order, each `A` only once its own file is stored.
 * When a commit fails, its message is answered `R` and nothing after it is answered or stored
 * (the storage undoes the later files of the connection); the connection then closes.
 */
export class Connection {
  files = 0;
  bytes = 0;
  private index = 0;
  private sink: FileSink | undefined;
  private messageStarted = 0;
  private readonly decoder: Decoder;
  private stopping = false;
  /** The reader's wait in progress: a stop request or a failed commit ends it early. */
  private waiting: { stop: (() => void) | undefined; fail: (err: Error) => void } | undefined;
  /** Commits in progress, oldest first: each entry settles once its message is answered (or failed). */
  private readonly inFlight: Promise<void>[] = [];
  /** The answers, one after the other, in message order. */
  private answering: Promise<void> = Promise.resolve();
  /** The first commit that failed: its message is answered R, none after it A. */
  private commitFailure: Error | undefined;
  private readonly maxInFlight: number;
  /** Bytes of the messages in `inFlight`. */
  private bytesInFlight = 0;
  /** The server is waiting for the client's next bytes. */
  private awaitingClient = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** When the current wait for the client began (`performance.now()`), or -1 when not waiting. */
  private idleSince = -1;

  constructor(
    private readonly socket: Socket,
    private readonly id: number,
    private readonly store: ConnectionStore,
    private readonly options: ConnectionOptions,
    private readonly onFile: (event: FileEvent) => void,
  ) {
    this.decoder = new Decoder(options.limits);
    this.maxInFlight = store.orderedCommits === true ? options.maxInFlight : 1;
  }

  /** Asks the connection to end at the next boundary between messages (now, if it is between messages). */
  stop(): void {
    this.stopping = true;
    this.waiting?.stop?.();
  }

  async run(): Promise<{ reason: CloseReason; error?: Error }> {
    try {
      return await this.serve();
    } finally {
      // Nothing of a finished connection stays referenced by a timer.
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
  }

  private async serve(): Promise<{ reason: CloseReason; error?: Error }> {
    const socket = this.socket;
    // Pull one chunk at a time: while a file's writes or the commits in flight are at their
    // limit nothing more is read, so a fast client is held back by TCP rather than by memory.
    const chunks = (socket.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<Buffer>)[
      Symbol.asyncIterator
    ]();
    try {
      for (;;) {
        if (this.stopping && this.decoder.idle) {
          await this.allAnswered();
          this.finish();
          return { reason: 'server-closed' };
        }
        // Between messages a stop request ends the wait; inside a message the message may finish.
        const read = chunks.next();
        // A read left behind by a stop request may still fail; that must not go unhandled.
        read.catch(() => undefined);
        this.awaitingClient = true;
        this.updateIdleTimer();
        let next;
        try {
          next = await this.wait(read, this.decoder.idle);
        } finally {
          this.awaitingClient = false;
          this.updateIdleTimer();
        }
        if (next === STOP) continue;
        if (next.done) break;
        const outcome = await this.consume(this.decoder.push(next.value));
        if (outcome === 'quit') {
          await this.allAnswered();
          this.finish(QUIT);
          return { reason: 'quit' };
        }
        if (outcome === 'stop') {
          await this.allAnswered();
          this.finish();
          return { reason: 'server-closed' };
        }
      }
      const [event] = this.decoder.end();
      if (event?.type === 'error') throw event.error;
      // The client closed between messages without sending the quit message.
      await this.allAnswered();
      this.finish();
      return { reason: 'client-closed' };
    } catch (err) {
      await this.discard();
      // The whole messages before the failure are stored and answered first, in order.
      await this.answering;
      const error = this.commitFailure ?? (err instanceof Error ? err : new Error(String(err)));
      if (error instanceof ConnectionError) return { reason: 'idle-timeout', error };
      if (socket.destroyed) return { reason: 'socket-error', error };
      this.finish(REJECTED);
      const truncated = error instanceof ProtocolError && error.code === 'LINEDROP_ERR_TRUNCATED';
      return { reason: truncated ? 'truncated' : 'rejected', error };
    }
  }

  /**
   * The idle timeout measures the client's silence while the server waits for it: it runs only
   * while the server waits to read and every message is answered, so the time the server spends
   * storing (writing, flushing) never counts, nor the time a client waits for its answer; it starts
   * again at each read.
   */
  private updateIdleTimer(): void {
    const idle = this.options.idleTimeoutMs;
    if (idle > 0 && this.awaitingClient && this.inFlight.length === 0) {
      // A wait for the client begins. The timer is not reset on every chunk (that costs more than
      // the chunk's own handling): it stays set and, when it fires, looks at how long this wait
      // has lasted.
      this.idleSince = performance.now();
      this.idleTimer ??= this.armIdleTimer(idle);
    } else {
      this.idleSince = -1;
    }
  }

  private armIdleTimer(ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.idleTimer = undefined;
      // Not waiting for the client now: the next wait sets the timer again.
      if (this.idleSince < 0) return;
      const idle = this.options.idleTimeoutMs;
      const waited = performance.now() - this.idleSince;
      if (waited < idle) {
        this.idleTimer = this.armIdleTimer(Math.ceil(idle - waited));
        return;
      }
      const what = this.decoder.idle ? 'the next message' : 'the rest of a message';
      this.socket.destroy(
        new ConnectionError('LINEDROP_ERR_IDLE_TIMEOUT', `no byte for ${idle} ms while waiting for ${what}`),
      );
    }, ms);
    // The socket keeps the process alive while the connection lasts; a timer left set after it ends does not.
    timer.unref();
    return timer;
  }

  /** Handles one chunk's events: 'quit' once the quit message is whole, 'stop' when shutting down after a message. */
  private async consume(events: ReturnType<Decoder['push']>): Promise<'quit' | 'stop' | 'more'> {
    for (const event of events) {
      switch (event.type) {
        case 'start':
          this.index++;
          this.messageStarted = performance.now();
          if (event.lines > 0 || this.options.saveEmpty) this.sink = await this.store.create(this.index);
          break;
        case 'data':
          if (!this.sink!.write(event.data)) await this.wait(this.sink!.drained());
          break;
        case 'end': {
          if (this.commitFailure) throw this.commitFailure;
          const sink = this.sink;
          this.sink = undefined;
          if (sink) this.startCommit(sink, event.lines, event.bytes);
          if (event.lines === 0) return 'quit';
          // At a limit, wait for the oldest commit to be answered before reading on.
          while (
            this.inFlight.length >= this.maxInFlight ||
            (this.inFlight.length > 1 && this.bytesInFlight > MAX_BYTES_IN_FLIGHT)
          ) {
            await this.wait(this.inFlight[0]!);
          }
          // Shutting down: stop after this message; what else the chunk held is not answered.
          if (this.stopping) return 'stop';
          break;
        }
        case 'error':
          throw event.error;
      }
    }
    return 'more';
  }

  /** Starts storing a whole message; its answer follows the earlier ones' once it is stored. */
  private startCommit(sink: FileSink, lines: number, bytes: number): void {
    this.bytesInFlight += bytes;
    const started = this.messageStarted;
    const committing = performance.now();
    const commit = sink.commit();
    commit.catch(() => undefined);
    const answered = this.answering.then(async () => {
      try {
        const file = await commit;
        // Storage without ordered commits works one message at a time, so nothing after a failure
        // is in flight; this is only a guard.
        if (this.commitFailure) return;
        const now = performance.now();
        this.files++;
        this.bytes += file.bytes;
        this.onFile({
          connection: this.id,
          file,
          lines,
          ms: Math.round(now - started),
          commitMs: Math.round((now - committing) * 1000) / 1000,
        });
        // The quit message (saved with saveEmpty) is answered Q when the connection ends.
        if (lines > 0) this.answer(ACCEPTED);
      } catch (err) {
        if (this.commitFailure) return;
        this.commitFailure = err instanceof Error ? err : new Error(String(err));
        this.waiting?.fail(this.commitFailure);
      } finally {
        this.inFlight.shift();
        this.bytesInFlight -= bytes;
        this.updateIdleTimer();
      }
    });
    this.inFlight.push(answered);
    this.answering = answered;
  }

  /**
   * Sends a status byte. The answers that become due together (the files one folder flush made
   * durable) leave in one write: the socket is corked until the current batch of callbacks is done.
   */
  private answer(status: Buffer): void {
    batchWrites(this.socket);
    this.socket.write(status);
  }

  /**
   * Waits for `promise`; throws as soon as a commit fails; with `stoppable`, gives STOP as soon as
   * a stop is requested. (One wait at a time, and nothing is left attached once it ends.)
   */
  private wait<T>(promise: Promise<T>): Promise<T>;
  private wait<T>(promise: Promise<T>, stoppable: boolean): Promise<T | typeof STOP>;
  private wait<T>(promise: Promise<T>, stoppable = false): Promise<T | typeof STOP> {
    if (this.commitFailure) return Promise.reject(this.commitFailure);
    if (stoppable && this.stopping) return Promise.resolve(STOP);
    return new Promise<T | typeof STOP>((resolve, reject) => {
      const waiting = { stop: stoppable ? () => resolve(STOP) : undefined, fail: reject };
      this.waiting = waiting;
      const done = (): void => {
        if (this.waiting === waiting) this.waiting = undefined;
      };
      promise.then(
        (value) => {
          done();
          resolve(value);
        },
        (err: unknown) => {
          done();
          reject(err);
        },
      );
    });
  }

  /** Waits until every message in flight is answered; throws if one of them failed. */
  private async allAnswered(): Promise<void> {
    await this.answering;
    if (this.commitFailure) throw this.commitFailure;
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

/** How a connection ended, in words for the log. */
export function describeReason(reason: CloseReason, error?: Error): string {
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
