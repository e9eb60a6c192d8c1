import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { ClientError, LinedropClient, type ConnectOptions } from '../client/client.js';
import { checkShape, measureFile, readSmallFile, type FileShape } from '../client/measure.js';
import { ProtocolError } from '../protocol/errors.js';
import type { Status } from '../protocol/status.js';
import { formatBytes, formatDuration, plural, sleep } from '../text.js';
import { ExitCode } from './exit-codes.js';
import { SendProgress } from './progress.js';
import { spoolInput, type SpooledInput } from './spool.js';

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
/** Names listed in one line of the interruption report before "and N more". */
const LIST_NAMES = 5;
/** Files up to this size are read whole while planning, counted in memory and sent from there. */
const HELD_FILE_BYTES = 1024 * 1024;
/** `holdBytes`: at most this many bytes of such files are held at once; the files past it are counted, then streamed. */
export const DEFAULT_HOLD_BYTES = 64 * 1024 * 1024;
/** Blocking reads while planning give the event loop a turn this often (the progress bar, Ctrl-C). */
const YIELD_EVERY_MS = 50;

/** The wait before the `n`-th reconnect (from 1): the base doubled each time, capped, then jittered into its upper half. */
export function retryDelay(n: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(baseMs * 2 ** (n - 1), MAX_RETRY_DELAY_MS);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

interface Planned {
  name: string;
  label: string;
  /** The file to stream (for standard input: its temporary spool file, if it needed one). */
  path?: string;
  /** The bytes to send, when they are held in memory: a small file read whole, or standard input that fitted. */
  body?: Buffer;
  shape: FileShape;
}

export interface SendOutput {
  /** One JSON object per file and a final summary, on standard output (see the README). */
  json?: boolean;
  /** Nothing on standard output; errors still go to standard error. */
  quiet?: boolean;
  /** Show a progress bar on standard error when it is a terminal (default: yes). */
  progress?: boolean;
}

type FileOutcome = 'accepted' | 'rejected' | 'unexpected' | 'failed' | 'not-sent';

/** Thrown inside a run when its signal aborts. */
class Interrupted extends Error {}

/** Bytes the server stores for a file: the client adds the final newline a file lacks. */
const storedBytes = (shape: FileShape): number => shape.bytes + (shape.addsNewline ? 1 : 0);

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
  private readonly json: boolean;
  private readonly retries: number;
  private readonly baseDelay: number;
  private readonly outcomes: FileOutcome[] = [];
  private readonly planned: Planned[] = [];
  private readonly spools: SpooledInput[] = [];
  private readonly spoolDirs: string[] = [];
  private progress: SendProgress | undefined;
  private client: LinedropClient | undefined;
  private reconnects = 0;
  private connections = 0;
  /** The first file not yet answered `A`; everything before it is done. */
  private next = 0;
  /** Per file of the current connection: how far it got (for the interruption report). */
  private sent: ('none' | 'part' | 'all')[] = [];
  private readonly started = performance.now();
  /** When planning last gave the event loop a turn. */
  private lastTurn = performance.now();
  /** Bytes of small files held in memory. */
  private held = 0;
  private readonly aborted: Promise<never>;

  constructor(private readonly options: SendCommandOptions & SendOutput) {
    this.json = options.json === true;
    this.retries = Math.max(0, Math.floor(options.retry ?? 0));
    this.baseDelay = Math.max(0, options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS);
    this.aborted = new Promise<never>((_, reject) => {
      const signal = options.signal;
      if (signal === undefined) return;
      const stop = (): void => reject(new Interrupted());
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    });
    this.aborted.catch(() => undefined);
  }

  async run(): Promise<ExitCode> {
    try {
      const refused = await this.plan();
      if (refused !== undefined) return refused;
      return await this.send();
    } catch (e) {
      if (e instanceof Interrupted) return this.interrupted();
      throw e;
    }
  }

  async cleanUp(): Promise<void> {
    this.progress?.stop();
    this.client?.destroy();
    for (const spool of this.spools) await spool.remove();
    for (const dir of this.spoolDirs) await rm(dir, { recursive: true, force: true });
  }

  /** Between blocking reads: a turn of the event loop now and then, so the bar moves and Ctrl-C is heard. */
  private async breathe(): Promise<void> {
    const now = performance.now();
    if (now - this.lastTurn < YIELD_EVERY_MS) return;
    await this.until(new Promise<void>((resolve) => setImmediate(resolve)));
    this.lastTurn = performance.now();
  }

  /** Waits for `promise` unless the run is interrupted first. */
  private until<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.aborted]);
  }

  private say(text: string): void {
    if (!this.json && !this.options.quiet) this.options.out.write(text);
  }

  /** A line on standard output, without tearing the progress bar. */
  private print(text: string): void {
    if (this.progress) this.progress.log(text, (t) => this.say(t));
    else this.say(text);
  }

  private emit(event: Record<string, unknown>): void {
    if (this.json) this.options.out.write(`${JSON.stringify(event)}\n`);
  }

  private warn(text: string): void {
    const line = `linedrop: ${text}\n`;
    if (this.progress) this.progress.log(line, (t) => this.options.err.write(t));
    else this.options.err.write(line);
  }

  private finish(code: ExitCode, error?: string, extra: Record<string, unknown> = {}): ExitCode {
    this.progress?.stop();
    const files = this.options.files.length;
    const accepted = this.outcomes.filter((o) => o === 'accepted').length;
    const bytes = this.planned.reduce((sum, p, i) => sum + (this.outcomes[i] === 'accepted' ? storedBytes(p.shape) : 0), 0);
    const ms = performance.now() - this.started;
    if (this.planned.length === files && this.outcomes.length > 0) {
      const rate = `${formatBytes(bytes / Math.max(ms / 1000, 0.001))}/s`;
      const head = accepted === files ? `sent ${plural(files, 'file')}` : `${accepted} of ${plural(files, 'file')} accepted`;
      this.say(`${head}, ${formatBytes(bytes)} in ${formatDuration(ms)} (${rate})\n`);
    }
    this.emit({
      event: 'summary',
      files,
      accepted,
      rejected: this.outcomes.filter((o) => o === 'rejected' || o === 'unexpected').length,
      notSent: files - this.outcomes.filter((o) => o !== 'not-sent').length,
      bytes,
      ms: Math.round(ms),
      exitCode: code,
      ...(this.reconnects > 0 ? { reconnects: this.reconnects } : {}),
      ...(error ? { error } : {}),
      ...extra,
    });
    return code;
  }

  /** Checks every file and counts its lines; returns an exit code when one cannot be sent (nothing is). */
  private async plan(): Promise<ExitCode | undefined> {
    const { files } = this.options;
    if (files.filter((f) => f === '-').length > 1) return this.refuse('standard input (-) can be sent only once');
    // First what is quick to check (exists, is a file, is not empty), then the line counts.
    const sizes: number[] = [];
    for (const name of files) {
      if (name === '-') {
        sizes.push(0);
        continue;
      }
      try {
        await this.breathe();
        const info = statSync(name);
        if (!info.isFile()) throw new Error('not a regular file (nothing was sent)');
        if (info.size === 0) throw new ProtocolError('ERR_EMPTY_FILE', 'empty');
        sizes.push(info.size);
      } catch (e) {
        if (e instanceof Interrupted) throw e;
        return this.refuse(`${name}: ${describeError(e)}`);
      }
    }
    const show = this.options.progress !== false && !this.json && !this.options.quiet;
    if (show)
      this.progress = new SendProgress(
        this.options.err,
        files.map((name, i) => ({ label: labelOf(name), bytes: sizes[i]! })),
      );
    for (const [i, name] of files.entries()) {
      const label = labelOf(name);
      let planned: Planned;
      try {
        planned = await this.until(this.measure(name, i));
        checkShape(planned.shape, 'it');
      } catch (e) {
        if (e instanceof Interrupted) throw e;
        return this.refuse(`${label}: ${describeError(e)}`);
      }
      if (planned.shape.firstNul !== undefined && this.options.binary !== true) {
        return this.refuse(
          `${label}: has a NUL byte at offset ${planned.shape.firstNul}, so it looks like a binary file (nothing was sent); --binary sends it anyway, split on "\\n" like any file`,
        );
      }
      this.planned.push(planned);
    }
    this.progress?.startSending(this.planned.map((p) => ({ label: p.label, bytes: p.shape.bytes })));
    return undefined;
  }

  private async measure(name: string, index: number): Promise<Planned> {
    const onProgress = (n: number): void => this.progress?.counting(index, n);
    if (name !== '-') {
      await this.breathe();
      // A small file is read once: counted in memory and sent from there, within a budget of held bytes.
      const limit = Math.min(HELD_FILE_BYTES, (this.options.holdBytes ?? DEFAULT_HOLD_BYTES) - this.held);
      const whole = limit > 0 ? readSmallFile(name, limit) : undefined;
      if (whole !== undefined) {
        this.held += whole.body.length;
        onProgress(whole.body.length);
        return { name, label: labelOf(name), body: whole.body, shape: whole.shape };
      }
      return { name, label: labelOf(name), path: name, shape: await measureFile(name, { onProgress }) };
    }
    const spool = await spoolInput(this.options.stdin, {
      ...(this.options.spoolThresholdBytes !== undefined ? { thresholdBytes: this.options.spoolThresholdBytes } : {}),
      onProgress,
      onTempDir: (dir) => this.spoolDirs.push(dir),
    });
    this.spools.push(spool);
    return { name, label: labelOf(name), shape: spool.shape, ...(spool.body ? { body: spool.body } : { path: spool.path! }) };
  }

  private refuse(message: string): ExitCode {
    this.progress?.stop();
    this.options.err.write(`linedrop: ${message}\n`);
    return this.finish(ExitCode.Usage, message);
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
        if (e instanceof Interrupted) throw e;
        const message = (e as Error).message;
        if (await this.retryAfter(message)) continue;
        const hint = e instanceof ClientError && e.code === 'ERR_CONNECT_TIMEOUT' ? ' (--connect-timeout sets how long to wait)' : '';
        this.warn(`${message}${hint}`);
        // Files are reported one by one only once something was sent.
        if (this.connections > 0) this.unsent(this.next, 'not sent');
        return this.finish(ExitCode.CannotConnect, message);
      }
    }
  }

  /** Sends the files not yet accepted, then the quit message, over one connection. */
  private async sendOver(client: LinedropClient): Promise<ExitCode | 'retry'> {
    const first = this.next;
    const local = client.local;
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
          this.warn(`${file.label}: ${describeError(e)}`);
          this.outcomes.push('failed');
          this.progress?.fileDone(i);
          this.emit({ ...this.fileEvent(file, i), status: null, outcome: 'failed', error: describeError(e), connection: this.connections, local });
          this.next = i + 1;
          continue;
        }
        const lost = e instanceof ClientError && (e.code === 'ERR_CONNECTION_CLOSED' || e.code === 'ERR_TIMEOUT');
        client.destroy();
        if (lost && (await this.retryAfter(`${file.label}: ${describeError(e)}`))) return 'retry';
        this.warn(
          `${file.label}: ${describeError(e)}${e instanceof ClientError && e.code === 'ERR_TIMEOUT' ? ' (--timeout sets how long to wait; 0 waits forever)' : ''}`,
        );
        this.outcomes.push('failed');
        this.emit({ ...this.fileEvent(file, i), status: null, outcome: 'failed', error: describeError(e), connection: this.connections, local });
        this.unsent(i + 1, 'not sent');
        return this.finish(lost ? ExitCode.ConnectionLost : ExitCode.SomeRejected, describeError(e));
      }
      const { status, ms } = answer.value;
      message++;
      const outcome: FileOutcome = status === 'A' ? 'accepted' : status === 'R' ? 'rejected' : 'unexpected';
      this.outcomes.push(outcome);
      this.progress?.fileDone(i);
      this.emit({ ...this.fileEvent(file, i), status, outcome, ms, connection: this.connections, message, local });
      if (status === 'A') {
        this.next = i + 1;
        const added = file.shape.addsNewline ? '; a final newline was added' : '';
        this.print(`${file.label}: accepted as ${message}.txt (${plural(file.shape.lines, 'line')}, ${plural(storedBytes(file.shape), 'byte')}${added})\n`);
        continue;
      }
      // A rejection (or an unknown answer) is final: it is not retried, and the server stores nothing after it.
      this.progress?.stop();
      this.say(`${file.label}: ${status === 'R' ? 'rejected by the server' : `unexpected response ${JSON.stringify(status)}`}\n`);
      client.destroy();
      this.unsent(i + 1, `not stored: the server ends the connection after ${status === 'R' ? 'rejecting' : 'its answer to'} ${file.label}`);
      return this.finish(ExitCode.SomeRejected);
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
        this.progress?.sending(index, n);
      },
      onSent: (): void => {
        started ??= performance.now();
        this.sent[index] = 'all';
      },
    };
    const status = file.body ? await client.sendBuffer(file.body, callbacks) : await client.sendFile(file.path!, { ...callbacks, shape: file.shape });
    return { status, ms: Math.round(performance.now() - (started ?? performance.now())) };
  }

  private async quit(client: LinedropClient): Promise<ExitCode | 'retry'> {
    let status: Status;
    try {
      status = await this.until(client.quit());
      await this.until(client.whenClosed());
    } catch (e) {
      if (e instanceof Interrupted) throw e;
      client.destroy();
      const lost = e instanceof ClientError && (e.code === 'ERR_CONNECTION_CLOSED' || e.code === 'ERR_TIMEOUT');
      if (lost && (await this.retryAfter(`the quit message: ${describeError(e)}`))) return 'retry';
      const message = `after ${plural(this.outcomes.filter((o) => o === 'accepted').length, 'accepted file')}: ${describeError(e)}`;
      this.warn(message);
      return this.finish(lost ? ExitCode.ConnectionLost : ExitCode.SomeRejected, message);
    }
    if (status !== 'Q') {
      const message = `the server answered ${JSON.stringify(status)} to the quit message, not "Q"`;
      this.warn(message);
      return this.finish(ExitCode.SomeRejected, message);
    }
    return this.finish(this.outcomes.every((o) => o === 'accepted') ? ExitCode.Ok : ExitCode.SomeRejected);
  }

  private fileEvent(file: Planned, i: number): Record<string, unknown> {
    return {
      event: 'file',
      index: i + 1,
      name: file.name,
      lines: file.shape.lines,
      bytes: storedBytes(file.shape),
      ...(file.shape.addsNewline ? { newlineAdded: true } : {}),
    };
  }

  private unsent(from: number, why: string): void {
    for (const file of this.planned.slice(from)) {
      this.warn(`${file.label}: ${why}`);
      this.outcomes.push('not-sent');
      this.emit({ event: 'file', index: null, name: file.name, status: null, outcome: 'not-sent', lines: file.shape.lines, bytes: storedBytes(file.shape) });
    }
  }

  /** Reports a broken or refused connection and waits before the next try, if one is left; false when none is. */
  private async retryAfter(reason: string): Promise<boolean> {
    if (this.reconnects >= this.retries) return false;
    this.reconnects++;
    const delayMs = retryDelay(this.reconnects, this.baseDelay);
    const left = this.planned.length - this.next;
    const what = left > 0 ? `${plural(left, 'file')} left to send` : 'only the quit message left to send';
    this.warn(`${reason}; reconnecting in ${delayMs} ms (retry ${this.reconnects} of ${this.retries}), ${what}`);
    this.emit({ event: 'retry', retry: this.reconnects, retries: this.retries, delayMs, reason, remaining: left });
    if (delayMs > 0) await this.until(sleep(delayMs));
    return true;
  }

  /** Ctrl-C: the bar cleared, the connection closed, and what was and was not sent said. */
  private interrupted(): ExitCode {
    this.progress?.stop();
    this.client?.destroy();
    const { files } = this.options;
    const accepted = files.filter((_, i) => this.outcomes[i] === 'accepted').map(labelOf);
    const inFlight: string[] = [];
    const notSent: string[] = [];
    for (let i = this.next; i < files.length; i++) {
      (this.sent[i] === 'all' ? inFlight : notSent).push(labelOf(files[i]!));
    }
    const parts = [`accepted: ${list(accepted)}`];
    if (inFlight.length > 0) parts.push(`sent but not answered (the server may have stored ${inFlight.length === 1 ? 'it' : 'them'}): ${list(inFlight)}`);
    if (notSent.length > 0) parts.push(`not sent: ${list(notSent)}`);
    this.options.err.write(`linedrop: interrupted; ${parts.join('; ')}\n`);
    return this.finish(ExitCode.Interrupted, 'interrupted', { interrupted: true });
  }
}

function list(names: string[]): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, LIST_NAMES).join(', ');
  return names.length > LIST_NAMES ? `${shown} and ${names.length - LIST_NAMES} more` : shown;
}

function settle<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

function labelOf(name: string): string {
  return name === '-' ? 'standard input' : name;
}

function describeError(e: unknown): string {
  if (e instanceof ProtocolError && e.code === 'ERR_EMPTY_FILE') {
    return 'has no lines; zero lines means "quit" on this protocol, so an empty file cannot be sent (nothing was sent)';
  }
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file (nothing was sent)';
  return err.message ?? String(e);
}
