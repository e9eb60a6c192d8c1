// `linedrop send`'s progress bar on standard error: shown at once on a terminal, first while the
// files' lines are counted, then while they are sent (current file, bytes, rate, ETA, files done);
// cleared when the run ends or is interrupted.
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import type cliProgress from 'cli-progress';
import { formatBytes, formatDuration } from '../../text.js';

type SingleBar = InstanceType<typeof cliProgress.SingleBar>;

/** The bar's library, loaded when a bar is first drawn: a run without a terminal never loads it. */
let lib: typeof cliProgress | undefined;
function progressLibrary(): typeof cliProgress {
  return (lib ??= createRequire(import.meta.url)('cli-progress') as typeof cliProgress);
}

export interface ProgressFile {
  label: string;
  /** Bytes to count and to send (for standard input, unknown until it has been read: 0). */
  bytes: number;
}

type Phase = 'counting' | 'sending';

export class SendProgress {
  private bar: SingleBar | undefined;
  private phase: Phase = 'counting';
  private phaseStarted = performance.now();
  private total = 0;
  private readonly before: number[] = [];
  private current = 0;
  private done = 0;
  private value = 0;

  /** Shows the bar at once when `stream` is a terminal; otherwise every call does nothing. */
  constructor(
    private readonly stream: Writable,
    private readonly files: ProgressFile[],
  ) {
    this.sizes(files);
    if ((stream as { isTTY?: boolean }).isTTY === true) this.show();
  }

  /** `counted` bytes of file `index` have been counted. */
  counting(index: number, counted: number): void {
    this.current = index;
    this.value = (this.before[index] ?? 0) + counted;
    this.render();
  }

  /** Counting is over: the files' sizes are now known for certain; sending starts. */
  startSending(files: ProgressFile[]): void {
    this.sizes(files);
    this.phase = 'sending';
    this.phaseStarted = performance.now();
    this.value = 0;
    this.current = 0;
    this.bar?.setTotal(Math.max(this.total, 1));
    this.render();
  }

  /** `sentInFile` bytes of file `index` have been handed to the connection. */
  sending(index: number, sentInFile: number): void {
    this.current = index;
    this.value = (this.before[index] ?? 0) + sentInFile;
    this.render();
  }

  /** File `index` was answered; `done` files are finished. */
  fileDone(index: number): void {
    this.done = index + 1;
    this.value = Math.max(this.value, (this.before[index] ?? 0) + (this.files[index]?.bytes ?? 0));
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

  /** Clears the bar for good. */
  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  private sizes(files: ProgressFile[]): void {
    this.before.length = 0;
    let sum = 0;
    for (const file of files) {
      this.before.push(sum);
      sum += file.bytes;
    }
    this.total = sum;
  }

  private show(): void {
    const { SingleBar, Presets } = progressLibrary();
    this.bar = new SingleBar(
      {
        stream: this.stream as NodeJS.WritableStream,
        format:
          ' {phase} {bar} {percentage}% | {file} | {value_text} of {total_text} | {rate} | ' +
          'ETA {eta_text} | files {done}/{count}',
        hideCursor: true,
        clearOnComplete: true,
        fps: 5,
      },
      Presets.shades_classic,
    );
    this.bar.start(Math.max(this.total, 1), this.value, this.payload());
  }

  private render(): void {
    this.bar?.update(this.value, this.payload());
  }

  private payload(): Record<string, string | number> {
    const seconds = Math.max((performance.now() - this.phaseStarted) / 1000, 0.001);
    const rate = this.value / seconds;
    const left = Math.max(this.total - this.value, 0);
    return {
      phase: this.phase === 'counting' ? 'counting lines' : 'sending',
      file: this.files[this.current]?.label ?? '',
      value_text: formatBytes(this.value),
      total_text: formatBytes(this.total),
      rate: `${formatBytes(rate)}/s`,
      eta_text: rate > 0 && this.value > 0 ? formatDuration((left / rate) * 1000) : '?',
      done: this.done,
      count: this.files.length,
    };
  }
}
