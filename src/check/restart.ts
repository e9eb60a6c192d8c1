// The server the checker (re)starts itself (`--restart-cmd`): started, followed through its process tree, stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { hasProc, ProcessTree } from './process-tree.js';
import { sleep } from '../text.js';

/** What is kept of each start's output for the report (its end: where tracebacks are). */
const TAIL_BYTES = 16 * 1024;
/** What each start may write into the log file; past it, the output is counted, not kept. */
const LOG_BYTES_PER_START = 256 * 1024;
/** How often the tree of a running server is scanned, so that no descendant is lost when its parent exits. */
const SCAN_MS = 200;

/** What servers print when their port is still held (Python, Node, C's perror, Java, Go, Rust). */
const ADDR_IN_USE = /address already in use|EADDRINUSE|errno 98|os error 98|WSAEADDRINUSE|BindException/i;

/** One start of the server: the checks it served and what it printed. */
export interface ServerStart {
  /** 1 for the first start, 2 for the next, ... */
  start: number;
  /** The checks that ran while it was the server (the first one started it). */
  checks: string[];
  /** The end of what it printed (standard output and error together), at most 16 KiB. */
  output: string;
  /** Bytes it printed in all. */
  bytes: number;
  /** How it ended (`exited with status 1`, `killed by SIGSEGV`), once it has. */
  exit?: string;
  /** The checker stopped it (so its end is not a crash). */
  stopped: boolean;
}

/**
 * The server the checker (re)starts itself with `--restart-cmd`: run through `sh -c` in a
 * process group of its own. Every process it starts is followed (through /proc on Linux), so
 * that stopping it stops all of them, even those in a process group or session of their own.
 */
export class ServerProcess {
  private child: ChildProcess | undefined;
  private tree: ProcessTree | undefined;
  private scanner: NodeJS.Timeout | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** The shell exited and its output pipes closed (everything it printed has been read). */
  private closed: Promise<void> = Promise.resolve();
  private tail = '';
  /** How many times the command was started. */
  starts = 0;
  /** The last exit of a started server, for reports. */
  lastExit: string | undefined;
  /** Every start, in order: what each printed and which checks it served. */
  readonly runs: ServerStart[] = [];
  /** A file that gets everything each start prints, after a line naming the start and its check. */
  logFile: string | undefined;

  private readonly wrap: (argv: string[], start: number) => string[];

  /**
   * `options.wrap` puts the server's argv (`['sh', '-c', command]`) inside another command (a
   * sandbox, a tracer): it gets the argv and the number of this start (1, 2, ...) and returns the
   * argv to spawn. By default the argv is spawned as it is.
   */
  constructor(
    readonly command: string,
    options: { wrap?: (argv: string[], start: number) => string[] } = {},
  ) {
    this.wrap = options.wrap ?? ((argv) => argv);
  }

  /** The last few KiB the latest start printed (stdout and stderr). */
  get output(): string {
    return this.tail;
  }

  /** The last `n` non-empty lines the server printed. */
  lastLines(n = 5): string {
    return this.tail.trim().split('\n').slice(-n).join('\n');
  }

  /** Whether the command was started and has not been stopped. */
  get started(): boolean {
    return this.child !== undefined;
  }

  /** Some process the command started is still running (the shell, or anything it started). */
  get running(): boolean {
    const child = this.child;
    if (!child) return false;
    if (this.tree) return this.tree.scan().length > 0;
    return child.exitCode === null && child.signalCode === null;
  }

  /** The server exited because its port was still in use (it printed "address already in use"). */
  get addrInUse(): boolean {
    return ADDR_IN_USE.test(this.tail);
  }

  /** The latest start, if any. */
  get current(): ServerStart | undefined {
    return this.runs.at(-1);
  }

  /** Records that `check` runs with the current start as its server. */
  serving(check: string): void {
    const run = this.current;
    if (run && !run.checks.includes(check)) run.checks.push(check);
  }

  /** The server's live processes (the shell and everything it started). */
  pids(): number[] {
    const child = this.child;
    if (!child) return [];
    if (this.tree) return this.tree.scan();
    return child.pid !== undefined && child.exitCode === null && child.signalCode === null ? [child.pid] : [];
  }

  /**
   * Stops the previous server (if it still runs) and starts the command again, for `check` (the check that needs it).
   */
  async start(check?: string): Promise<void> {
    await this.stop();
    this.tail = '';
    this.lastExit = undefined;
    const argv = this.wrap(['sh', '-c', this.command], this.starts + 1);
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.starts++;
    const run: ServerStart = {
      start: this.starts,
      checks: check !== undefined ? [check] : [],
      output: '',
      bytes: 0,
      stopped: false,
    };
    this.runs.push(run);
    this.log(
      `${this.starts > 1 ? '\n' : ''}===== start ${this.starts}${check !== undefined ? `, for the check ${check}` : ''} (${new Date().toISOString()}) =====\n`,
    );
    this.child = child;
    if (child.pid !== undefined && hasProc()) {
      const tree = new ProcessTree(child.pid);
      this.tree = tree;
      this.scanner = setInterval(() => tree.scan(), SCAN_MS);
      this.scanner.unref();
    }
    const keep = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      this.tail = (this.tail + text).slice(-TAIL_BYTES);
      run.output = this.tail;
      if (run.bytes < LOG_BYTES_PER_START) this.log(chunk.subarray(0, LOG_BYTES_PER_START - run.bytes));
      if (run.bytes < LOG_BYTES_PER_START && run.bytes + chunk.length >= LOG_BYTES_PER_START)
        this.log(`\n[the rest of this start's output is left out]\n`);
      run.bytes += chunk.length;
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.lastExit = `could not start: ${err.message}`;
        run.exit = this.lastExit;
        resolve();
      });
      child.once('exit', (code, signal) => {
        this.lastExit = signal ? `killed by ${signal}` : `exited with status ${code}`;
        run.exit = this.lastExit;
        resolve();
      });
    });
  }

  /**
   * How the command's shell ended (`exited with status 1`, `killed by SIGSEGV`), once it has and
   * all it printed has been read; waits at most `ms` for that.
   */
  async exitText(ms = 500): Promise<string | undefined> {
    if (!this.child) return undefined;
    await Promise.race([this.closed, sleep(ms)]);
    return this.lastExit;
  }

  private log(data: string | Buffer): void {
    if (this.logFile !== undefined && !appendLog(this.logFile, data)) this.logFile = undefined;
  }

  /** Waits until no process of the server runs any more, at most `ms`. Returns whether they all exited. */
  async waitGone(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.running) {
      if (Date.now() >= deadline) return false;
      await sleep(25);
    }
    return true;
  }

  /**
   * Stops every process the command started: SIGTERM, then SIGKILL to those still running after
   * `graceMs`. Returns once they are all gone (or after a last SIGKILL).
   */
  async stop(graceMs = 1000): Promise<void> {
    const child = this.child;
    if (!child) return;
    const tree = this.tree;
    clearInterval(this.scanner);
    const run = this.current;
    if (run && this.running) run.stopped = true;
    if (tree) {
      tree.signal('SIGTERM');
      const deadline = Date.now() + graceMs;
      while (tree.scan().length > 0 && Date.now() < deadline) await sleep(25);
      for (let i = 0; i < 20 && tree.signal('SIGKILL').length > 0; i++) await sleep(25);
    } else if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      signalGroup(child.pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
      signalGroup(child.pid, 'SIGKILL');
    }
    await this.exited;
    this.child = undefined;
    this.tree = undefined;
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
}

/** Appends to the log file, if there is one; a log that cannot be written is not the server's fault, and is left. */
function appendLog(file: string, data: string | Buffer): boolean {
  try {
    appendFileSync(file, data);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}
