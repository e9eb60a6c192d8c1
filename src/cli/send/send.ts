// `linedrop send` running: the files sent over one connection in order, with retries, reported as they are answered.
import type { Readable, Writable } from 'node:stream';
import { LinedropClient } from '../../client/client.js';
import { ClientError } from '../../client/errors.js';
import type { ConnectOptions } from '../../client/options.js';
import type { Status } from '../../protocol/status.js';
import { plural, sleep } from '../../text.js';
import { ExitCode } from '../exit-codes.js';
import { InterruptedError, interruptedBy } from './send-interrupt.js';
import { describeError, SendPlan, type Planned } from './send-plan.js';
import { SendReport, type SendOutput } from './send-report.js';

export interface SendCommandOptions {
  host: string;
  port: number;
  tls?: ConnectOptions['tls'];
  files: string[];
  stdin: Readable;
  out: Writable;
  err: Writable;
  /**
   * Reconnects allowed when the connection cannot be made, breaks or times out before every file
   * is answered (default 0). The files not yet answered `A` are sent again over the new connection;
   * a file answered `R` is never sent again.
   */
  retry?: number;
  /** Wait before the first reconnect, doubled for each further one (with jitter), at most 10 s (default 200 ms). */
  retryDelayMs?: number;
  /** Give up a connection attempt after this long (default 10 s; 0: never). Exit 3. */
  connectTimeoutMs?: number;
  /** Give up when the server neither reads nor answers for this long (default 60 s; 0: never). Exit 4. */
  timeoutMs?: number;
  /** Files sent ahead of their answers (default: the client's, 64). */
  maxInFlight?: number;
  /** Send files with NUL bytes too (refused otherwise: they look binary). */
  binary?: boolean;
  /** Standard input past this many bytes is spooled to a temporary file (default 8 MiB). */
  spoolThresholdBytes?: number;
  /**
   * Files of up to 1 MiB are read whole while planning, counted in memory and sent from there, up to
   * this many bytes in all (default 64 MiB); the files past it are counted, then read again to be sent.
   */
  holdBytes?: number;
  /** Aborting it (Ctrl-C) stops at once: the bar is cleared and what was and was not sent is said. Exit 130. */
  signal?: AbortSignal;
}

export const DEFAULT_RETRY_DELAY_MS = 200;
const MAX_RETRY_DELAY_MS = 10_000;

/**
 * The wait before the `n`-th reconnect (from 1): the base doubled each time, capped, then jittered into its upper half.
 */
export function retryDelay(n: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(baseMs * 2 ** (n - 1), MAX_RETRY_DELAY_MS);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Sends each file as one message over one connection, then the zero-line message. Every file is
 * checked before anything is sent: a missing, empty or (without `binary`) binary file stops the
 * command with nothing sent. Files go out without waiting for each answer (a bounded window);
 * each answer is matched to its file. After an `R` nothing more is sent.
 *
 * With `retry`, a connection that cannot be made or that breaks or times out before its last
 * status is made again, up to `retry` times, and the files not yet answered `A` (and the quit
 * message) are sent again over it: each new connection numbers its files from `1.txt` again.
 * A file answered `R` is final. Each reconnect is reported on standard error (and with `json` as
 * a `retry` event).
 */
export async function sendFiles(options: SendCommandOptions & SendOutput): Promise<ExitCode> {
  const run = new SendRun(options);
  try {
    return await run.run();
  } finally {
    await run.cleanUp();
  }
}

class SendRun {
  private readonly retries: number;
  private readonly baseDelay: number;
  private readonly plan: SendPlan;
  private readonly report: SendReport;
  private readonly planned: Planned[];
  private client: LinedropClient | undefined;
  private reconnects = 0;
  private connections = 0;
  /** The first file not yet answered `A`; everything before it is done. */
  private next = 0;
  /** Per file of the current connection: how far it got (for the interruption report). */
  private sent: ('none' | 'part' | 'all')[] = [];
  private readonly aborted: Promise<never>;

  constructor(private readonly options: SendCommandOptions & SendOutput) {
    this.retries = Math.max(0, Math.floor(options.retry ?? 0));
    this.baseDelay = Math.max(0, options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS);
    this.aborted = interruptedBy(options.signal);
    this.plan = new SendPlan(options, {
      until: (promise) => this.until(promise),
      checked: (sizes) => this.report.checked(sizes),
      counting: (index, bytes) => this.report.counting(index, bytes),
    });
    this.planned = this.plan.files;
    this.report = new SendReport(options, this.planned);
  }

  async run(): Promise<ExitCode> {
    try {
      const refused = await this.plan.make();
      if (refused !== undefined) return this.report.refused(refused, ExitCode.Usage);
      this.report.startSending();
      return await this.send();
    } catch (e) {
      if (e instanceof InterruptedError) return this.interrupted();
      throw e;
    }
  }

  async cleanUp(): Promise<void> {
    this.report.stop();
    this.client?.destroy();
    await this.plan.cleanUp();
  }

  /** Waits for `promise` unless the run is interrupted first. */
  private until<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.aborted]);
  }

  /** Connections, until every file is answered or something final happens. */
  private async send(): Promise<ExitCode> {
    for (;;) {
      const client = await this.connect();
      if (typeof client === 'number') return client;
      const result = await this.sendOver(client);
      if (result === 'retry') continue;
      return result;
    }
  }

  private async connect(): Promise<LinedropClient | ExitCode> {
    for (;;) {
      const { host, port, tls, connectTimeoutMs, timeoutMs, maxInFlight } = this.options;
      try {
        this.client = await this.until(
          LinedropClient.connect({
            host,
            port,
            ...(tls ? { tls } : {}),
            ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
            ...(timeoutMs !== undefined ? { timeoutMs } : {}),
            ...(maxInFlight !== undefined ? { maxInFlight } : {}),
          }),
        );
        this.connections++;
        return this.client;
      } catch (e) {
        if (e instanceof InterruptedError) throw e;
        const message = (e as Error).message;
        if (await this.retryAfter(message)) continue;
        const hint =
          e instanceof ClientError && e.code === 'LINEDROP_ERR_CONNECT_TIMEOUT'
            ? ' (--connect-timeout sets how long to wait)'
            : '';
        this.report.warn(`${message}${hint}`);
        // Files are reported one by one only once something was sent.
        if (this.connections > 0) this.report.unsent(this.next, 'not sent');
        return this.report.finish(ExitCode.CannotConnect, message);
      }
    }
  }

  /** Sends the files not yet accepted, then the quit message, over one connection. */
  private async sendOver(client: LinedropClient): Promise<ExitCode | 'retry'> {
    const first = this.next;
    const via = { connection: this.connections, local: client.local };
    this.sent = this.planned.map(() => 'none');
    // Every file is handed to the client now; it sends them in order, a bounded window ahead of the answers.
    const answers = this.planned.slice(first).map((file, j) => settle(this.sendOne(client, file, first + j)));
    // The server numbers the messages it receives: a file that failed before any of it went out takes no number.
    let message = 0;
    for (let i = first; i < this.planned.length; i++) {
      const file = this.planned[i]!;
      const answer = await this.until(answers[i - first]!);
      if ('error' in answer) {
        const e = answer.error;
        if (client.usable) {
          // It failed before any of it was sent (gone or unreadable since it was planned): the files after it go on.
          this.report.failed(file, i, describeError(e), via, '', true);
          this.next = i + 1;
          continue;
        }
        const lost =
          e instanceof ClientError &&
          (e.code === 'LINEDROP_ERR_CONNECTION_CLOSED' || e.code === 'LINEDROP_ERR_TIMEOUT');
        client.destroy();
        if (lost && (await this.retryAfter(`${file.label}: ${describeError(e)}`))) return 'retry';
        const hint =
          e instanceof ClientError && e.code === 'LINEDROP_ERR_TIMEOUT'
            ? ' (--timeout sets how long to wait; 0 waits forever)'
            : '';
        this.report.failed(file, i, describeError(e), via, hint);
        this.report.unsent(i + 1, 'not sent');
        return this.report.finish(lost ? ExitCode.ConnectionLost : ExitCode.SomeRejected, describeError(e));
      }
      const { status, ms } = answer.value;
      message++;
      this.report.answered(file, i, status, ms, message, via);
      if (status === 'A') {
        this.next = i + 1;
        continue;
      }
      // A rejection (or an unknown answer) is final: it is not retried, and the server stores nothing after it.
      client.destroy();
      this.report.unsent(
        i + 1,
        `not stored: the server ends the connection after ` +
          `${status === 'R' ? 'rejecting' : 'its answer to'} ${file.label}`,
      );
      return this.report.finish(ExitCode.SomeRejected);
    }
    return this.quit(client);
  }

  private async sendOne(client: LinedropClient, file: Planned, index: number): Promise<{ status: Status; ms: number }> {
    // From the file's first byte out to its answer.
    let started: number | undefined;
    const callbacks = {
      onProgress: (n: number): void => {
        started ??= performance.now();
        this.sent[index] = 'part';
        this.report.sending(index, n);
      },
      onSent: (): void => {
        started ??= performance.now();
        this.sent[index] = 'all';
      },
    };
    const status = file.body
      ? await client.sendBuffer(file.body, callbacks)
      : await client.sendFile(file.path!, { ...callbacks, shape: file.shape });
    return { status, ms: Math.round(performance.now() - (started ?? performance.now())) };
  }

  private async quit(client: LinedropClient): Promise<ExitCode | 'retry'> {
    let status: Status;
    try {
      status = await this.until(client.quit());
      await this.until(client.whenClosed());
    } catch (e) {
      if (e instanceof InterruptedError) throw e;
      client.destroy();
      const lost =
        e instanceof ClientError && (e.code === 'LINEDROP_ERR_CONNECTION_CLOSED' || e.code === 'LINEDROP_ERR_TIMEOUT');
      if (lost && (await this.retryAfter(`the quit message: ${describeError(e)}`))) return 'retry';
      const message = `after ${plural(this.report.accepted, 'accepted file')}: ${describeError(e)}`;
      this.report.warn(message);
      return this.report.finish(lost ? ExitCode.ConnectionLost : ExitCode.SomeRejected, message);
    }
    if (status !== 'Q') {
      const message = `the server answered ${JSON.stringify(status)} to the quit message, not "Q"`;
      this.report.warn(message);
      return this.report.finish(ExitCode.SomeRejected, message);
    }
    return this.report.finish(this.report.allAccepted ? ExitCode.Ok : ExitCode.SomeRejected);
  }

  /** Reports a broken or refused connection and waits before the next try, if one is left; false when none is. */
  private async retryAfter(reason: string): Promise<boolean> {
    if (this.reconnects >= this.retries) return false;
    this.reconnects++;
    const delayMs = retryDelay(this.reconnects, this.baseDelay);
    this.report.retrying(reason, this.reconnects, this.retries, delayMs, this.planned.length - this.next);
    if (delayMs > 0) await this.until(sleep(delayMs));
    return true;
  }

  /** Ctrl-C: the bar cleared, the connection closed, and what was and was not sent said. */
  private interrupted(): ExitCode {
    this.report.stop();
    this.client?.destroy();
    return this.report.interrupted(ExitCode.Interrupted, this.next, this.sent);
  }
}

function settle<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}
