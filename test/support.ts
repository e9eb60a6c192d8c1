// Shared helpers for the tests: temporary folders, servers on port 0, raw sockets.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  startServer,
  type ConnectionSummary,
  type LinedropServer,
  type RefusedEvent,
  type ServerOptions,
} from '../src/index.js';
import { isTempName } from '../src/storage/file-sink.js';
import { sleep } from '../src/text.js';

export const HOST = '127.0.0.1';

/** The repository's root (tests run from dist/test). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export async function tempDir(prefix = 'linedrop-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface Running {
  server: LinedropServer;
  port: number;
  dir: string;
  close(): Promise<void>;
}

/**
 * A server on 127.0.0.1, port 0, saving into a fresh temporary folder (or `storage`, when given, in `dir`); `close()`
 * may be called more than once.
 */
export async function runServer(options: ServerOptions = {}): Promise<Running> {
  const dir = options.dir ?? (await tempDir());
  // A storage of the test's own is where files go (`dir` names its folder for the test only).
  const { dir: _folder, ...rest } = options;
  const server = await startServer({ ...rest, ...(options.storage ? {} : { dir }), port: 0, host: HOST });
  let closing: Promise<void> | undefined;
  return {
    server,
    port: server.address().port,
    dir,
    close: () => {
      closing ??= (async () => {
        await server.close();
        if (!options.dir) await removeDir(dir);
      })();
      return closing;
    },
  };
}

/**
 * The test's server: on 127.0.0.1, port 0, saving into a fresh temporary folder (or `options.dir`),
 * closed and its temporary folder removed when the test ends, passed or failed. The test may close
 * it earlier itself.
 */
export async function withServer(t: TestContext, options: ServerOptions = {}): Promise<Running> {
  const running = await runServer(options);
  t.after(() => running.close());
  return running;
}

/** A fresh temporary folder, removed when the test ends, passed or failed. */
export async function withTempDir(t: TestContext, prefix?: string): Promise<string> {
  const dir = await tempDir(prefix);
  t.after(() => removeDir(dir));
  return dir;
}

/** A message built by hand (not by the encoder): the count, then each line and its `\n`. */
export function frame(lines: (string | Buffer)[], count = lines.length): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(count);
  const parts: Buffer[] = [head];
  for (const line of lines) parts.push(typeof line === 'string' ? Buffer.from(line, 'utf8') : line, Buffer.from('\n'));
  return Buffer.concat(parts);
}

export const QUIT = Buffer.alloc(4);

/** A raw TCP connection that records every byte the server sends and when it closes. */
export class RawPeer {
  readonly received: number[] = [];
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received.push(...chunk);
      this.wake();
    });
    socket.on('error', () => undefined);
    // 'end': the server has closed its side (what a lab client's recv() sees as b'').
    socket.on('end', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static async connect(port: number): Promise<RawPeer> {
    const socket = connect({ host: HOST, port, allowHalfOpen: true });
    await once(socket, 'connect');
    socket.setNoDelay(true);
    return new RawPeer(socket);
  }

  async write(data: Buffer | string): Promise<void> {
    await new Promise<void>((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** Waits until `n` status bytes have arrived (or the connection closed), at most `ms`. */
  async statuses(n: number, ms = 10_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (this.received.length < n && !this.closed && Date.now() < deadline) await this.next(deadline - Date.now());
    return String.fromCharCode(...this.received);
  }

  /** Waits until the server has closed the connection, at most `ms`; returns whether it did. */
  async waitClosed(ms = 10_000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await this.next(deadline - Date.now());
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(ms, 1));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** Names in a folder, sorted, temporary files included. */
export async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

export { sleep };

/** Waits until `check` is true, polling, at most `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(20);
  }
  return check();
}

export { freePort } from '../src/net-address.js';

/** Resolves with the value, or rejects after `ms` naming `what`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The command that runs this checkout's `linedrop` (another one, such as an installed copy, can be given). */
export const LINEDROP = [process.execPath, join(ROOT, 'bin/linedrop.js')];

/** `linedrop receive` as a child process on 127.0.0.1, port 0, logging JSON lines (read for its port). */
export class ServerProcess {
  port = 0;
  private stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    child.stdout!.on('data', () => undefined);
    this.exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  }

  /**
   * `withoutPrivileges`: as root, the server runs with no capabilities at all (util-linux `setpriv`),
   * so file permissions bind it as they bind any user, while it can still read the checkout
   * wherever that lies (a user such as nobody may not be able to enter it). `linedrop`: the command
   * to run (by default this checkout's).
   */
  static async start(
    dir: string,
    extra: string[] = [],
    withoutPrivileges = false,
    linedrop = LINEDROP,
  ): Promise<ServerProcess> {
    const command = [
      ...linedrop,
      'receive',
      '--port',
      '0',
      '--host',
      HOST,
      '--dir',
      dir,
      '--log-format',
      'json',
      ...extra,
    ];
    if (withoutPrivileges && process.getuid?.() === 0)
      command.unshift('setpriv', '--bounding-set=-all', '--inh-caps=-all', '--');
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new ServerProcess(child);
    try {
      await until(() => server.listeningPort() !== undefined || !server.running, 15_000);
      const port = server.listeningPort();
      assert.ok(port !== undefined, `the server did not start listening:\n${server.stderr}`);
      server.port = port;
      return server;
    } catch (err) {
      await server.stop();
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  logs(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.stderr.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line still being written
      }
    }
    return out;
  }

  text(): string {
    return this.stderr;
  }

  /** Connections the server has logged as opened. */
  opened(): number {
    return this.logs().filter((e) => typeof e['msg'] === 'string' && /^connection \d+ from /.test(e['msg'])).length;
  }

  private listeningPort(): number | undefined {
    for (const entry of this.logs()) {
      if (
        typeof entry['msg'] === 'string' &&
        entry['msg'].startsWith('listening on') &&
        typeof entry['port'] === 'number'
      )
        return entry['port'];
    }
    return undefined;
  }

  signal(signal: NodeJS.Signals): void {
    assert.equal(this.running, true, `the server is running when it gets ${signal}`);
    this.child.kill(signal);
  }

  /** SIGKILL and wait for the exit: a crash. */
  async crash(): Promise<void> {
    assert.equal(this.running, true, 'the server is still running when it is killed');
    this.child.kill('SIGKILL');
    const { signal } = await within(this.exited, 10_000, 'the killed server to exit');
    assert.equal(signal, 'SIGKILL');
  }

  /** Makes sure the process is gone (always called in `finally`). */
  async stop(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await within(this.exited, 10_000, 'the server process to exit').catch(() => undefined);
  }
}

/** Everything the server reports about how connections ended or were refused. */
export function record(s: Running): { closed: ConnectionSummary[]; refused: RefusedEvent[] } {
  const closed: ConnectionSummary[] = [];
  const refused: RefusedEvent[] = [];
  s.server.on('connectionClosed', (summary) => closed.push(summary));
  s.server.on('connectionRefused', (event) => refused.push(event));
  return { closed, refused };
}

/** Every temporary file in `dir` and its sub-folders. */
export async function tempFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      for (const name of await readdir(join(dir, entry.name))) if (isTempName(name)) found.push(join(entry.name, name));
    } else if (isTempName(entry.name)) found.push(entry.name);
  }
  return found;
}
