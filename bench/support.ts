// What the benchmark's sections share: the server child process, sockets, test data, timing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sleep } from '../src/text.js';

export const HOST = '127.0.0.1';
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
/** Progress, on standard error (the table goes to standard output). */
export function log(text: string): void {
  process.stderr.write(`${text}\n`);
}

const CHILD = fileURLToPath(new URL('./server-child.js', import.meta.url));

export interface Child {
  proc: ChildProcess;
  pid: number;
  port: number;
  next(): Promise<Record<string, unknown>>;
  command(text: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Starts bench/server-child.js through `sh`, so `ulimit -n` can be raised for it first. */
export async function startChild(args: string[], nofile = 0): Promise<Child> {
  const script = `${nofile > 0 ? `ulimit -n ${nofile} 2>/dev/null || ulimit -n hard 2>/dev/null; ` : ''}exec "$@"`;
  const proc = spawn('sh', ['-c', script, 'sh', process.execPath, '--expose-gc', CHILD, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const queue: Record<string, unknown>[] = [];
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  let exited = false;
  const lines = createInterface({ input: proc.stdout! });
  lines.on('line', (line) => {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      log(`server-child: ${line}`);
      return;
    }
    const w = waiting.shift();
    if (w) w(message);
    else queue.push(message);
  });
  const exit = once(proc, 'exit').then(() => {
    exited = true;
  });
  const next = (): Promise<Record<string, unknown>> => {
    const m = queue.shift();
    if (m) return Promise.resolve(m);
    if (exited) return Promise.reject(new Error('the server child has exited'));
    return new Promise((resolve, reject) => {
      waiting.push(resolve);
      void exit.then(() => reject(new Error('the server child exited')));
    });
  };
  const ready = await next();
  if (ready.ready !== true) throw new Error(`server child: ${JSON.stringify(ready)}`);
  return {
    proc,
    pid: ready.pid as number,
    port: ready.port as number,
    next,
    command: (text) => {
      proc.stdin!.write(`${text}\n`);
      return next();
    },
    stop: async () => {
      if (exited) return;
      proc.stdin!.end();
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** The resident set of a process, from /proc (Linux). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

export async function stats(
  child: Child,
): Promise<{ connections: number; rss: number; heapUsed: number; external: number; arrayBuffers: number }> {
  const m = await child.command('stats');
  return m.stats as { connections: number; rss: number; heapUsed: number; external: number; arrayBuffers: number };
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/** Lines of `lineLen` bytes (the last one `\n`), printable pseudo-random text, as one buffer of about `size` bytes. */
export function makeLines(lineLen: number, size: number, seed = 1): Buffer {
  const count = Math.max(1, Math.floor(size / lineLen));
  const out = Buffer.allocUnsafe(count * lineLen);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = 0x20 + ((x >>> 0) % 95);
  }
  for (let i = lineLen - 1; i < out.length; i += lineLen) out[i] = 0x0a;
  return out;
}

/** A socket to 127.0.0.1:port, retried while nothing listens yet. */
export async function connectTo(port: number, retryMs = 0): Promise<Socket> {
  const deadline = Date.now() + retryMs;
  for (;;) {
    const socket = connect({ host: HOST, port, allowHalfOpen: true });
    try {
      await once(socket, 'connect');
      socket.setNoDelay(true);
      return socket;
    } catch (err) {
      socket.destroy();
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || Date.now() > deadline) throw err;
      await sleep(20);
    }
  }
}

/** Writes `total` bytes taken from `block` over and over, waiting for 'drain' when asked. */
export async function writeRepeated(socket: Socket, block: Buffer, total: number): Promise<void> {
  let left = total;
  while (left > 0) {
    const piece = left >= block.length ? block : block.subarray(0, left);
    left -= piece.length;
    if (!socket.write(piece)) await once(socket, 'drain');
  }
}

/** Resolves with the next byte the peer sends. */
export function nextByte(socket: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      cleanup();
      if (chunk.length > 1) socket.unshift(chunk.subarray(1));
      resolve(chunk[0]!);
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error('the connection ended before an answer'));
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
  });
}

export { freePort } from '../src/net-address.js';
export { sleep };

export function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * Runs every contestant `n` times, taking turns (A B C A B C ...), so that a burst of load from
 * elsewhere on the machine hits them alike, and keeps each one's fastest run.
 */
export async function bestOf<T extends { seconds: number }>(
  n: number,
  runs: (() => Promise<T>)[],
  names: string[] = [],
): Promise<T[]> {
  const winners: (T | undefined)[] = runs.map(() => undefined);
  for (let i = 0; i < n; i++) {
    for (const [j, run] of runs.entries()) {
      collectGarbage();
      const r = await run();
      log(`   ${names[j] ?? `#${j + 1}`}: ${r.seconds.toFixed(3)} s`);
      const w = winners[j];
      if (w === undefined || r.seconds < w.seconds) winners[j] = r;
    }
  }
  return winners as T[];
}

/** A full garbage collection, so one case's garbage is not collected on the next one's time. */
export const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

export interface Timed {
  seconds: number;
}

export async function writeFileOfLines(path: string, size: number, lineLen: number): Promise<number> {
  const block = makeLines(lineLen, 4 * MiB, 5);
  const lines = Math.floor(size / lineLen);
  let left = lines * lineLen;
  const handle = await open(path, 'w');
  try {
    while (left > 0) {
      const piece = left >= block.length ? block : block.subarray(0, left);
      await handle.write(piece);
      left -= piece.length;
    }
  } finally {
    await handle.close();
  }
  return lines * lineLen;
}

export async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) n += await countFiles(join(dir, entry.name));
    else if (entry.name.endsWith('.txt')) n++;
  }
  return n;
}
