import { spawn, type ChildProcess } from 'node:child_process';
import { hasProc, ProcessTree } from './process-tree.js';
import { sleep } from './wire.js';

const TAIL_BYTES = 4096;
/** How often the tree of a running server is scanned, so that no descendant is lost when its parent exits. */
const SCAN_MS = 200;

/** What servers print when their port is still held (Python, Node, C's perror, Java, Go, Rust). */
const ADDR_IN_USE = /address already in use|EADDRINUSE|errno 98|os error 98|WSAEADDRINUSE|BindException/i;

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

  private readonly wrap: (argv: string[], start: number) => string[];

  /**
   * `wrap` changes the argv that starts the command (`['sh', '-c', command]`) on its `start`-th
   * start (1, 2, ...): a tracer or a sandbox around it. Default: unchanged.
   */
  constructor(
    readonly command: string,
    options: { wrap?: (argv: string[], start: number) => string[] } = {},
  ) {
    this.wrap = options.wrap ?? ((argv) => argv);
  }

  /** The last few KiB the server printed (stdout and stderr). */
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

  /** Stops the previous server (if it still runs) and starts the command again. */
  async start(): Promise<void> {
    await this.stop();
    this.tail = '';
    this.lastExit = undefined;
    const argv = this.wrap(['sh', '-c', this.command], this.starts + 1);
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.starts++;
    this.child = child;
    if (child.pid !== undefined && hasProc()) {
      const tree = new ProcessTree(child.pid);
      this.tree = tree;
      this.scanner = setInterval(() => tree.scan(), SCAN_MS);
      this.scanner.unref();
    }
    const keep = (chunk: Buffer): void => {
      this.tail = (this.tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.lastExit = `could not start: ${err.message}`;
        resolve();
      });
      child.once('exit', (code, signal) => {
        this.lastExit = signal ? `killed by ${signal}` : `exited with status ${code}`;
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

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}
