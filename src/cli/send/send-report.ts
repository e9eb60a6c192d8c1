// `linedrop send`'s reporting: a line per file, the summary, the JSON events, the progress bar, and
// at Ctrl-C what was and was not sent. It keeps the tally of what became of each file.
import type { Writable } from 'node:stream';
import type { Status } from '../../protocol/status.js';
import { formatBytes, formatDuration, plural } from '../../text.js';
import type { ExitCode } from '../exit-codes.js';
import { SendProgress } from './progress.js';
import { labelOf, storedBytes, type Planned } from './send-plan.js';

export interface SendOutput {
  /** One JSON object per file and a final summary, on standard output (see the README). */
  json?: boolean;
  /** Nothing on standard output; errors still go to standard error. */
  quiet?: boolean;
  /** Show a progress bar on standard error when it is a terminal (default: yes). */
  progress?: boolean;
}

type FileOutcome = 'accepted' | 'rejected' | 'unexpected' | 'failed' | 'not-sent';

/** The connection a file went over, as its JSON event says. */
export interface Via {
  connection: number;
  local: unknown;
}

/** Names listed in one line of the interruption report before "and N more". */
const LIST_NAMES = 5;

export class SendReport {
  private readonly json: boolean;
  private readonly outcomes: FileOutcome[] = [];
  private progress: SendProgress | undefined;
  private readonly started = performance.now();
  /** Reconnects made so far (in the summary when there were any). */
  private reconnects = 0;

  constructor(
    private readonly output: SendOutput & { files: string[]; out: Writable; err: Writable },
    /** The files planned (all of them once planning is done). */
    private readonly planned: readonly Planned[],
  ) {
    this.json = output.json === true;
  }

  get accepted(): number {
    return this.outcomes.filter((o) => o === 'accepted').length;
  }

  get allAccepted(): boolean {
    return this.outcomes.every((o) => o === 'accepted');
  }

  /** Every file checked: the bar (on a terminal, without `json` or `quiet`) starts counting lines. */
  checked(sizes: number[]): void {
    const show = this.output.progress !== false && !this.json && !this.output.quiet;
    if (show)
      this.progress = new SendProgress(
        this.output.err,
        this.output.files.map((name, i) => ({ label: labelOf(name), bytes: sizes[i]! })),
      );
  }

  counting(index: number, bytes: number): void {
    this.progress?.counting(index, bytes);
  }

  /** Every file planned: the bar moves on to sending. */
  startSending(): void {
    this.progress?.startSending(this.planned.map((p) => ({ label: p.label, bytes: p.shape.bytes })));
  }

  sending(index: number, bytes: number): void {
    this.progress?.sending(index, bytes);
  }

  /** Clears the bar for good. */
  stop(): void {
    this.progress?.stop();
  }

  warn(text: string): void {
    const line = `linedrop: ${text}\n`;
    if (this.progress) this.progress.log(line, (t) => this.output.err.write(t));
    else this.output.err.write(line);
  }

  /** A file that cannot be sent: said on standard error; nothing was sent. Exit 2. */
  refused(message: string, code: ExitCode): ExitCode {
    this.progress?.stop();
    this.output.err.write(`linedrop: ${message}\n`);
    return this.finish(code, message);
  }

  /** File `i` failed with `error` (said on standard error with `hint`); `done` moves the bar past it. */
  failed(file: Planned, i: number, error: string, via: Via, hint = '', done = false): void {
    this.warn(`${file.label}: ${error}${hint}`);
    this.outcomes.push('failed');
    if (done) this.progress?.fileDone(i);
    this.emit({ ...this.fileEvent(file, i), status: null, outcome: 'failed', error, ...via });
  }

  /** File `i` answered `status`, stored as the connection's `message`-th file when accepted. */
  answered(file: Planned, i: number, status: Status, ms: number, message: number, via: Via): void {
    const outcome: FileOutcome = status === 'A' ? 'accepted' : status === 'R' ? 'rejected' : 'unexpected';
    this.outcomes.push(outcome);
    this.progress?.fileDone(i);
    this.emit({
      ...this.fileEvent(file, i),
      status,
      outcome,
      ms,
      connection: via.connection,
      message,
      local: via.local,
    });
    if (status === 'A') {
      const added = file.shape.addsNewline ? '; a final newline was added' : '';
      this.print(
        `${file.label}: accepted as ${message}.txt (${plural(file.shape.lines, 'line')}, ` +
          `${plural(storedBytes(file.shape), 'byte')}${added})\n`,
      );
      return;
    }
    this.progress?.stop();
    this.say(
      `${file.label}: ${status === 'R' ? 'rejected by the server' : `unexpected response ${JSON.stringify(status)}`}\n`,
    );
  }

  /** The planned files from `from` on were not sent (or not stored), for `why`. */
  unsent(from: number, why: string): void {
    for (const file of this.planned.slice(from)) {
      this.warn(`${file.label}: ${why}`);
      this.outcomes.push('not-sent');
      this.emit({
        event: 'file',
        index: null,
        name: file.name,
        status: null,
        outcome: 'not-sent',
        lines: file.shape.lines,
        bytes: storedBytes(file.shape),
      });
    }
  }

  /** A reconnect, the `retry`-th of `retries`, in `delayMs`, with `remaining` files left. */
  retrying(reason: string, retry: number, retries: number, delayMs: number, remaining: number): void {
    this.reconnects = retry;
    const what = remaining > 0 ? `${plural(remaining, 'file')} left to send` : 'only the quit message left to send';
    this.warn(`${reason}; reconnecting in ${delayMs} ms (retry ${retry} of ${retries}), ${what}`);
    this.emit({ event: 'retry', retry, retries, delayMs, reason, remaining });
  }

  /**
   * Ctrl-C: the bar cleared and what was and was not sent said. `next` is the first file not yet
   * answered `A`; `sent` says how far each file of the current connection got.
   */
  interrupted(code: ExitCode, next: number, sent: readonly ('none' | 'part' | 'all')[]): ExitCode {
    this.progress?.stop();
    const { files } = this.output;
    const accepted = files.filter((_, i) => this.outcomes[i] === 'accepted').map(labelOf);
    const inFlight: string[] = [];
    const notSent: string[] = [];
    for (let i = next; i < files.length; i++) {
      (sent[i] === 'all' ? inFlight : notSent).push(labelOf(files[i]!));
    }
    const parts = [`accepted: ${list(accepted)}`];
    if (inFlight.length > 0)
      parts.push(
        `sent but not answered (the server may have stored ` +
          `${inFlight.length === 1 ? 'it' : 'them'}): ${list(inFlight)}`,
      );
    if (notSent.length > 0) parts.push(`not sent: ${list(notSent)}`);
    this.output.err.write(`linedrop: interrupted; ${parts.join('; ')}\n`);
    return this.finish(code, 'interrupted', { interrupted: true });
  }

  /**
   * The summary line (once every file was planned and one answered or failed) and the `summary` event; returns `code`.
   */
  finish(code: ExitCode, error?: string, extra: Record<string, unknown> = {}): ExitCode {
    this.progress?.stop();
    const files = this.output.files.length;
    const accepted = this.accepted;
    const bytes = this.planned.reduce(
      (sum, p, i) => sum + (this.outcomes[i] === 'accepted' ? storedBytes(p.shape) : 0),
      0,
    );
    const ms = performance.now() - this.started;
    if (this.planned.length === files && this.outcomes.length > 0) {
      const rate = `${formatBytes(bytes / Math.max(ms / 1000, 0.001))}/s`;
      const head =
        accepted === files ? `sent ${plural(files, 'file')}` : `${accepted} of ${plural(files, 'file')} accepted`;
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

  private say(text: string): void {
    if (!this.json && !this.output.quiet) this.output.out.write(text);
  }

  /** A line on standard output, without tearing the progress bar. */
  private print(text: string): void {
    if (this.progress) this.progress.log(text, (t) => this.say(t));
    else this.say(text);
  }

  private emit(event: Record<string, unknown>): void {
    if (this.json) this.output.out.write(`${JSON.stringify(event)}\n`);
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
}

function list(names: string[]): string {
  if (names.length === 0) return 'none';
  const shown = names.slice(0, LIST_NAMES).join(', ');
  return names.length > LIST_NAMES ? `${shown} and ${names.length - LIST_NAMES} more` : shown;
}
