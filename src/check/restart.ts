import { spawn, type ChildProcess } from 'node:child_process';

const TAIL_BYTES = 4096;

/**
 * The server the checker (re)starts itself with `--restart-cmd`: run through `sh -c` in a
 * process group of its own, so that stopping it stops whatever the command started.
 */
export class ServerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private tail = '';
  /** How many times the command was started. */
  starts = 0;
  /** The last exit of a started server, for reports. */
  lastExit: string | undefined;

  constructor(readonly command: string) {}

  /** The last few KiB the server printed (stdout and stderr). */
  get output(): string {
    return this.tail;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Stops the previous server (if it still runs) and starts the command again. */
  async start(): Promise<void> {
    await this.stop();
    this.tail = '';
    const child = spawn('sh', ['-c', this.command], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.starts++;
    this.child = child;
    const keep = (chunk: Buffer): void => {
      this.tail = (this.tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
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

  /** Stops the server's whole process group: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      signalGroup(child.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
      }, graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    // Whatever the shell started may outlive it: make sure the group is gone.
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
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
