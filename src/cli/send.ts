import { stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { ClientError, LinedropClient, type ConnectOptions, type FileShape, checkShape, measureFile, shapeOf } from '../client/client.js';
import { ProtocolError } from '../protocol/errors.js';
import type { Status } from '../protocol/status.js';
import { plural } from '../text.js';
import { ExitCode } from './exit-codes.js';
import cliProgress from 'cli-progress';

const { SingleBar, Presets } = cliProgress;
type SingleBar = InstanceType<typeof cliProgress.SingleBar>;

export interface SendCommandOptions {
  host: string;
  port: number;
  tls?: ConnectOptions['tls'];
  files: string[];
  stdin: Readable;
  out: Writable;
  err: Writable;
  /**
   * Reconnects allowed when the connection cannot be made or breaks before every file is
   * answered (default 0). The files not yet answered `A` are sent again over the new connection;
   * a file answered `R` is never sent again.
   */
  retry?: number;
  /** Wait before the first reconnect, doubled for each further one (with jitter), at most 10 s (default 200 ms). */
  retryDelayMs?: number;
}

export const DEFAULT_RETRY_DELAY_MS = 200;
const MAX_RETRY_DELAY_MS = 10_000;

/** The wait before the `n`-th reconnect (from 1): the base doubled each time, capped, then jittered into its upper half. */
export function retryDelay(n: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(baseMs * 2 ** (n - 1), MAX_RETRY_DELAY_MS);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

interface Planned {
  name: string;
  /** Standard input's bytes, read before connecting; files are streamed from disk. */
  body?: Buffer;
  lines: number;
  bytes: number;
  /** A file's shape as measured when it was checked: it is then read only once more, to send it. */
  shape?: FileShape;
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

/**
 * Sends each file as one message over one connection, then the zero-line message. Every file is
 * checked before anything is sent: a missing or empty file stops the command with nothing sent.
 *
 * With `retry`, a connection that cannot be made or that breaks before its last status (refused,
 * reset, closed) is made again, up to `retry` times, and the files not yet answered `A` (and the
 * quit message) are sent again over it: each new connection numbers its files from `1.txt` again.
 * A file answered `R` is final. Each reconnect is reported on standard error (and with `json` as
 * a `retry` event).
 */
export async function sendFiles(options: SendCommandOptions & SendOutput): Promise<ExitCode> {
  const { out, err } = options;
  const json = options.json === true;
  const retries = Math.max(0, Math.floor(options.retry ?? 0));
  const baseDelay = Math.max(0, options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS);
  const say = (text: string): void => {
    if (!json && !options.quiet) out.write(text);
  };
  const emit = (event: Record<string, unknown>): void => {
    if (json) out.write(`${JSON.stringify(event)}\n`);
  };
  const outcomes: FileOutcome[] = [];
  let reconnects = 0;
  const finish = (code: ExitCode, error?: string): ExitCode => {
    emit({
      event: 'summary',
      files: options.files.length,
      accepted: outcomes.filter((o) => o === 'accepted').length,
      rejected: outcomes.filter((o) => o === 'rejected' || o === 'unexpected').length,
      notSent: options.files.length - outcomes.filter((o) => o !== 'not-sent').length,
      exitCode: code,
      ...(reconnects > 0 ? { reconnects } : {}),
      ...(error ? { error } : {}),
    });
    return code;
  };

  const planned: Planned[] = [];
  for (const name of options.files) {
    try {
      planned.push(await plan(name, options.stdin));
    } catch (e) {
      const message = `${name === '-' ? 'standard input' : name}: ${describeError(e)}`;
      err.write(`linedrop: ${message}\n`);
      return finish(ExitCode.Usage, message);
    }
  }
  if (planned.filter((p) => p.name === '-').length > 1) {
    err.write('linedrop: standard input (-) can be sent only once\n');
    return finish(ExitCode.Usage, 'standard input (-) can be sent only once');
  }

  const progress = options.progress !== false && !json && !options.quiet ? new Progress(err, planned) : undefined;
  const unsent = (from: number): void => {
    for (const file of planned.slice(from)) {
      err.write(`linedrop: ${labelOf(file)}: not sent\n`);
      outcomes.push('not-sent');
      emit({ event: 'file', index: null, name: file.name, status: null, outcome: 'not-sent', lines: file.lines, bytes: file.bytes });
    }
  };
  /** Reports a broken or refused connection and waits before the next try, if one is left; false when none is. */
  const retryAfter = async (reason: string, next: number): Promise<boolean> => {
    if (reconnects >= retries) return false;
    reconnects++;
    const delayMs = retryDelay(reconnects, baseDelay);
    const left = planned.length - next;
    const what = left > 0 ? `${plural(left, 'file')} left to send` : 'only the quit message left to send';
    const text = `linedrop: ${reason}; reconnecting in ${delayMs} ms (retry ${reconnects} of ${retries}), ${what}\n`;
    if (progress) progress.log(text, (t) => err.write(t));
    else err.write(text);
    emit({ event: 'retry', retry: reconnects, retries, delayMs, reason, remaining: left });
    if (delayMs > 0) await sleep(delayMs);
    return true;
  };

  /** The first file not yet answered `A`; everything before it is done. */
  let next = 0;
  let connections = 0;
  for (;;) {
    let client: LinedropClient;
    try {
      client = await LinedropClient.connect({ host: options.host, port: options.port, ...(options.tls ? { tls: options.tls } : {}) });
    } catch (e) {
      const message = (e as Error).message;
      if (await retryAfter(message, next)) continue;
      progress?.stop();
      err.write(`linedrop: ${message}\n`);
      // Files are reported one by one only once something was sent.
      if (connections > 0) unsent(next);
      return finish(ExitCode.CannotConnect, message);
    }
    connections++;
    const local = client.local;

    let broken: string | undefined;
    const first = next;
    for (let i = next; i < planned.length; i++) {
      const file = planned[i]!;
      const label = labelOf(file);
      const message = i - first + 1;
      let status: Status;
      const started = performance.now();
      try {
        const onProgress = (n: number): void => progress?.update(i, n);
        status = file.body ? await client.sendBuffer(file.body, { onProgress }) : await client.sendFile(file.name, { onProgress, ...(file.shape ? { shape: file.shape } : {}) });
      } catch (e) {
        client.destroy();
        const lost = e instanceof ClientError && e.code === 'ERR_CONNECTION_CLOSED';
        if (lost && reconnects < retries) {
          broken = `${label}: ${describeError(e)}`;
          next = i;
          break;
        }
        progress?.stop();
        err.write(`linedrop: ${label}: ${describeError(e)}\n`);
        outcomes.push('failed');
        emit({ event: 'file', index: i + 1, name: file.name, status: null, outcome: 'failed', error: describeError(e), lines: file.lines, bytes: file.bytes, connection: connections, local });
        unsent(i + 1);
        return finish(lost ? ExitCode.ConnectionLost : ExitCode.SomeRejected, describeError(e));
      }
      const ms = Math.round(performance.now() - started);
      const outcome: FileOutcome = status === 'A' ? 'accepted' : status === 'R' ? 'rejected' : 'unexpected';
      outcomes.push(outcome);
      progress?.fileDone(i);
      emit({ event: 'file', index: i + 1, name: file.name, status, outcome, lines: file.lines, bytes: file.bytes, ms, connection: connections, message, local });
      if (status === 'A') {
        next = i + 1;
        progress?.log(`${label}: accepted as ${message}.txt (${plural(file.lines, 'line')}, ${plural(file.bytes, 'byte')})\n`, say);
        continue;
      }
      // A rejection (or an unknown answer) is final: it is not retried.
      progress?.stop();
      say(`${label}: ${status === 'R' ? 'rejected by the server' : `unexpected response ${JSON.stringify(status)}`}\n`);
      unsent(i + 1);
      client.destroy();
      return finish(ExitCode.SomeRejected);
    }
    if (broken !== undefined) {
      await retryAfter(broken, next);
      continue;
    }

    let status: Status;
    try {
      status = await client.quit();
      await client.whenClosed();
    } catch (e) {
      client.destroy();
      const lost = e instanceof ClientError && e.code === 'ERR_CONNECTION_CLOSED';
      if (lost && (await retryAfter(`the quit message: ${describeError(e)}`, next))) continue;
      progress?.stop();
      const message = `after ${plural(outcomes.length, 'accepted file')}: ${describeError(e)}`;
      err.write(`linedrop: ${message}\n`);
      return finish(ExitCode.ConnectionLost, message);
    }
    progress?.stop();
    if (status !== 'Q') {
      const message = `the server answered ${JSON.stringify(status)} to the quit message, not "Q"`;
      err.write(`linedrop: ${message}\n`);
      return finish(ExitCode.SomeRejected, message);
    }
    return finish(ExitCode.Ok);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function labelOf(file: Planned): string {
  return file.name === '-' ? 'standard input' : file.name;
}

/**
 * A progress bar on standard error (bytes, rate, files done), shown only on a terminal and only
 * when the work lasts more than a moment.
 */
class Progress {
  private bar: SingleBar | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly total: number;
  private readonly before: number[] = [];
  private readonly started = performance.now();
  private done = 0;
  private value = 0;

  constructor(
    private readonly stream: Writable,
    private readonly files: Planned[],
  ) {
    let sum = 0;
    for (const file of files) {
      this.before.push(sum);
      sum += file.bytes;
    }
    this.total = sum;
    if ((stream as { isTTY?: boolean }).isTTY === true) {
      this.timer = setTimeout(() => this.show(), SHOW_AFTER_MS);
      this.timer.unref();
    }
  }

  update(index: number, sentInFile: number): void {
    this.value = (this.before[index] ?? 0) + sentInFile;
    this.render();
  }

  fileDone(index: number): void {
    this.done = index + 1;
    this.value = (this.before[index] ?? 0) + (this.files[index]?.bytes ?? 0);
    this.render();
  }

  /** Prints a line without tearing the bar. */
  log(text: string, say: (text: string) => void): void {
    const shown = this.bar !== undefined;
    this.bar?.stop();
    this.bar = undefined;
    say(text);
    if (shown) this.show();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.bar?.stop();
    this.bar = undefined;
  }

  private show(): void {
    if (this.done >= this.files.length) return;
    this.bar = new SingleBar(
      {
        stream: this.stream as NodeJS.WritableStream,
        format: ' {bar} {percentage}% | {sent} of {size} | {rate} | files {files}/{nfiles}',
        hideCursor: true,
        clearOnComplete: true,
        fps: 5,
      },
      Presets.shades_classic,
    );
    this.bar.start(this.total, this.value, this.payload());
  }

  private render(): void {
    this.bar?.update(this.value, this.payload());
  }

  private payload(): Record<string, string | number> {
    const seconds = Math.max((performance.now() - this.started) / 1000, 0.001);
    return { sent: bytes(this.value), size: bytes(this.total), rate: `${bytes(this.value / seconds)}/s`, files: this.done, nfiles: this.files.length };
  }
}

const SHOW_AFTER_MS = 300;

function bytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

async function plan(name: string, stdin: Readable): Promise<Planned> {
  if (name === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    const body = Buffer.concat(chunks);
    const shape = shapeOf(body);
    checkShape(shape, 'it');
    return { name, body, lines: shape.lines, bytes: shape.bytes };
  }
  const info = await stat(name);
  if (!info.isFile()) throw new Error('not a regular file');
  const shape = await measureFile(name);
  checkShape(shape, 'it');
  return { name, lines: shape.lines, bytes: shape.bytes, shape };
}

function describeError(e: unknown): string {
  if (e instanceof ProtocolError && e.code === 'ERR_EMPTY_FILE') {
    return 'has no lines; zero lines means "quit" on this protocol, so an empty file cannot be sent (nothing was sent)';
  }
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file (nothing was sent)';
  return err.message ?? String(e);
}
