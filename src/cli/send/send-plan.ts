// `linedrop send`'s plan: what each file is, measured before connecting. Every file is checked
// (exists, is a regular file, is not empty, has no NUL byte unless `binary`) and its lines counted;
// small files are read whole and held in memory, standard input is spooled.
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { checkShape, measureFile, readSmallFile, type FileShape } from '../../client/measure.js';
import { ClientError } from '../../client/errors.js';
import { InterruptedError } from './send-interrupt.js';
import { spoolInput, type SpooledInput } from './spool.js';

/** Files up to this size are read whole while planning, counted in memory and sent from there. */
const HELD_FILE_BYTES = 1024 * 1024;
/**
 * `holdBytes`: at most this many bytes of such files are held at once; the files past it are counted, then streamed.
 */
export const DEFAULT_HOLD_BYTES = 64 * 1024 * 1024;
/** Blocking reads while planning give the event loop a turn this often (the progress bar, Ctrl-C). */
const YIELD_EVERY_MS = 50;

export interface Planned {
  name: string;
  label: string;
  /** The file to stream (for standard input: its temporary spool file, if it needed one). */
  path?: string;
  /** The bytes to send, when they are held in memory: a small file read whole, or standard input that fitted. */
  body?: Buffer;
  shape: FileShape;
}

export interface PlanOptions {
  files: string[];
  stdin: Readable;
  binary?: boolean;
  spoolThresholdBytes?: number;
  holdBytes?: number;
}

export interface PlanHooks {
  /** Waits for a promise unless the run is interrupted first (then rejects with `InterruptedError`). */
  until<T>(promise: Promise<T>): Promise<T>;
  /**
   * Every file exists, is a regular file and is not empty: their sizes (0 for standard input), before their lines are
   * counted.
   */
  checked(sizes: number[]): void;
  /** `bytes` of file `index` counted so far. */
  counting(index: number, bytes: number): void;
}

/** Bytes the server stores for a file: the client adds the final newline a file lacks. */
export const storedBytes = (shape: FileShape): number => shape.bytes + (shape.addsNewline ? 1 : 0);

export function labelOf(name: string): string {
  return name === '-' ? 'standard input' : name;
}

const EMPTY =
  'has no lines; zero lines means "quit" on this protocol, so an empty file cannot be sent (nothing was sent)';

export function describeError(e: unknown): string {
  if (e instanceof ClientError && e.code === 'LINEDROP_ERR_EMPTY_FILE') return EMPTY;
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file (nothing was sent)';
  return err.message ?? String(e);
}

export class SendPlan {
  /** The files planned so far, in order (all of them once `make` returned no refusal). */
  readonly files: Planned[] = [];
  private readonly spools: SpooledInput[] = [];
  private readonly spoolDirs: string[] = [];
  /** When planning last gave the event loop a turn. */
  private lastTurn = performance.now();
  /** Bytes of small files held in memory. */
  private held = 0;

  constructor(
    private readonly options: PlanOptions,
    private readonly hooks: PlanHooks,
  ) {}

  /** Checks every file and counts its lines; returns why when one cannot be sent (then nothing is). */
  async make(): Promise<string | undefined> {
    const { files } = this.options;
    if (files.filter((f) => f === '-').length > 1) return 'standard input (-) can be sent only once';
    // First what is quick to check (exists, is a file, is not empty), then the line counts.
    const sizes: number[] = [];
    for (const name of files) {
      if (name === '-') {
        sizes.push(0);
        continue;
      }
      let size: number;
      try {
        await this.breathe();
        const info = statSync(name);
        if (!info.isFile()) return `${name}: not a regular file (nothing was sent)`;
        size = info.size;
      } catch (e) {
        if (e instanceof InterruptedError) throw e;
        return `${name}: ${describeError(e)}`;
      }
      if (size === 0) return `${name}: ${EMPTY}`;
      sizes.push(size);
    }
    this.hooks.checked(sizes);
    for (const [i, name] of files.entries()) {
      const label = labelOf(name);
      let planned: Planned;
      try {
        planned = await this.hooks.until(this.measure(name, i));
        checkShape(planned.shape, 'it');
      } catch (e) {
        if (e instanceof InterruptedError) throw e;
        return `${label}: ${describeError(e)}`;
      }
      if (planned.shape.firstNul !== undefined && this.options.binary !== true) {
        return (
          `${label}: has a NUL byte at offset ${planned.shape.firstNul}, so it looks like a ` +
          `binary file (nothing was sent); --binary sends it anyway, split on "\\n" like any file`
        );
      }
      this.files.push(planned);
    }
    return undefined;
  }

  /** Removes standard input's spool files and folders. */
  async cleanUp(): Promise<void> {
    for (const spool of this.spools) await spool.remove();
    for (const dir of this.spoolDirs) await rm(dir, { recursive: true, force: true });
  }

  /** Between blocking reads: a turn of the event loop now and then, so the bar moves and Ctrl-C is heard. */
  private async breathe(): Promise<void> {
    const now = performance.now();
    if (now - this.lastTurn < YIELD_EVERY_MS) return;
    await this.hooks.until(new Promise<void>((resolve) => setImmediate(resolve)));
    this.lastTurn = performance.now();
  }

  private async measure(name: string, index: number): Promise<Planned> {
    const onProgress = (n: number): void => this.hooks.counting(index, n);
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
    return {
      name,
      label: labelOf(name),
      shape: spool.shape,
      ...(spool.body ? { body: spool.body } : { path: spool.path! }),
    };
  }
}
