// Runs the command line as a user runs it: `node bin/linedrop.js ...` with piped standard input.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../support.js';

export const BIN = join(ROOT, 'bin/linedrop.js');

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Run {
  done: Promise<Result>;
  stdoutText: () => string;
  stderrText: () => string;
  kill: (signal?: NodeJS.Signals) => void;
}

/**
 * Starts `linedrop args...`. `env` is added to this process's environment, less the colour
 * variables (a test says whether it wants them); a value of undefined removes a variable.
 */
export function linedrop(args: string[], input = '', env: Record<string, string | undefined> = {}, cwd?: string): Run {
  const base: Record<string, string | undefined> = {
    ...process.env,
    NO_COLOR: undefined,
    FORCE_COLOR: undefined,
    ...env,
  };
  const clean = Object.fromEntries(Object.entries(base).filter((e): e is [string, string] => e[1] !== undefined));
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: clean, cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.on('error', () => undefined);
  child.stdin.end(input);
  return {
    done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))),
    stdoutText: () => stdout,
    stderrText: () => stderr,
    kill: (signal = 'SIGTERM') => void child.kill(signal),
  };
}
