// Running a short command to find out whether something works here (a namespace, a sandbox, strace):
// its exit status and what it printed on standard error, killed if it takes longer than it should.
import { spawn } from 'node:child_process';

export interface Tried {
  /** The exit status; null when it could not be started or was killed. */
  code: number | null;
  /** What it printed on standard error. */
  stderr: string;
  /** Why it could not be started (`ENOENT`: not installed). */
  error?: NodeJS.ErrnoException;
}

/** Runs `argv` with no input and its output discarded; after `limitMs` it is killed. */
export function tryCommand(argv: readonly string[], limitMs: number): Promise<Tried> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, stderr, error });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
