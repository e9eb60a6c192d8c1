// Whole commands, timed: the real `linedrop` (bin/linedrop.js) and other programs, each in a
// process of its own, from spawn to exit.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectTo, freePort, HOST, type Timed } from './support.js';

/** The repository's root (this file runs as dist/bench/commands.js). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The `linedrop` command, as installed (`bin` in package.json). */
export const LINEDROP = join(ROOT, 'bin', 'linedrop.js');

/**
 * Runs a command to its end; rejects, with what it printed on standard error, unless it exits 0.
 * `name` is how errors call it (default: the command and its first arguments).
 */
export async function timeCommand(
  cmd: string,
  args: string[],
  name = [cmd, ...args.slice(0, 3)].join(' '),
): Promise<Timed> {
  const t0 = performance.now();
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (text: string) => {
    if (stderr.length < 4000) stderr += text;
  });
  const [code, signal] = (await once(proc, 'exit')) as [number | null, NodeJS.Signals | null];
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`${name} exited with ${code ?? signal}: ${stderr.trim()}`);
  return { seconds };
}

/** A long-running server process, ready once its port takes connections. */
export interface Daemon {
  port: number;
  stop(): Promise<void>;
}

/** Starts `cmd` (which listens on `port`) and waits until a connection to it succeeds. */
export async function startDaemon(cmd: string, args: string[], port: number, name: string): Promise<Daemon> {
  const proc: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (text: string) => {
    if (stderr.length < 4000) stderr += text;
  });
  const exited = once(proc, 'exit');
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const probe = await Promise.race([
      connectTo(port, 10_000),
      exited.then(() => {
        throw new Error(`${name} exited at start: ${stderr.trim()}`);
      }),
    ]);
    probe.destroy();
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, stop };
}

/** `linedrop receive` on 127.0.0.1, saving into `dir`. */
export async function startLinedropReceive(dir: string): Promise<Daemon> {
  const port = await freePort();
  return startDaemon(
    process.execPath,
    [LINEDROP, 'receive', '--host', HOST, '--port', String(port), '--dir', dir, '--quiet'],
    port,
    'linedrop receive',
  );
}

/** Writes every dirty page out (between timed runs, so one run's leftovers do not land on the next). */
export function syncAll(): void {
  spawnSync('sync', { stdio: 'ignore' });
}
