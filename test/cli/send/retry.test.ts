// `send --retry`: a connection that breaks (closed, reset, refused) is made again and the files not
// yet answered A are sent again; a rejection is final. A proxy in the test cuts connections after a
// chosen number of bytes from the client, so where each break falls is exact. Most tests send with
// `--max-in-flight 1` (each file's A before the next file), so which files were answered is exact too.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { retryDelay } from '../../../src/cli/send/send.js';
import { startServer, type ConnectionSummary } from '../../../src/index.js';
import { HOST, ROOT, freePort, removeDir, runServer, tempDir, until } from '../../support.js';

const BIN = join(ROOT, 'bin/linedrop.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function linedrop(args: string[], onStderr?: (text: string) => void): Promise<Result> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    onStderr?.(stderr);
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** A server on a given port (flat layout, into `dir`). */
async function startServerOn(port: number, dir: string): Promise<{ close(): Promise<void> }> {
  const server = await startServer({ port, host: HOST, dir });
  return { close: () => server.close() };
}

type Cut = { after: number; how: 'close' | 'reset' } | undefined;

/**
 * A TCP proxy to a port on 127.0.0.1. `plan(n)` says what happens to its n-th connection (from 0):
 * undefined, pass everything; `{ after, how }`, forward the first `after` bytes from the client,
 * then end the server side (which sees a message cut short) and close or reset the client side.
 */
class CutProxy {
  connections = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: number, plan: (n: number) => Cut): Promise<CutProxy> {
    const server = createServer({ allowHalfOpen: true });
    server.listen(0, HOST);
    await once(server, 'listening');
    const proxy = new CutProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client: Socket) => proxy.relay(client, target, plan(proxy.connections++)));
    return proxy;
  }

  private relay(client: Socket, target: number, cut: Cut): void {
    const upstream = connect({ host: HOST, port: target, allowHalfOpen: true });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => this.sockets.delete(socket));
    }
    let forwarded = 0;
    let cutOff = false;
    client.on('data', (chunk: Buffer) => {
      if (cutOff) return;
      if (cut === undefined || forwarded + chunk.length < cut.after) {
        forwarded += chunk.length;
        upstream.write(chunk);
        return;
      }
      cutOff = true;
      upstream.end(chunk.subarray(0, cut.after - forwarded));
      if (cut.how === 'reset') client.resetAndDestroy();
      else client.destroy();
    });
    client.on('end', () => upstream.end());
    upstream.on('data', (chunk: Buffer) => {
      if (!client.destroyed) client.write(chunk);
    });
    upstream.on('end', () => client.end());
    upstream.on('close', () => client.destroy());
    client.on('close', () => {
      if (!cutOff) upstream.destroy();
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    await once(this.server, 'close');
  }
}

/** Five files, each with unique content; returns their paths and contents. */
async function makeFiles(dir: string, count = 5): Promise<{ paths: string[]; contents: string[] }> {
  const paths: string[] = [];
  const contents: string[] = [];
  for (let f = 1; f <= count; f++) {
    const lines = Array.from({ length: 3 + f }, (_, k) => `file ${f} line ${k + 1} ${'x'.repeat(20 * f)}`);
    const content = `${lines.join('\n')}\n`;
    const path = join(dir, `f${f}.txt`);
    await writeFile(path, content);
    paths.push(path);
    contents.push(content);
  }
  return { paths, contents };
}

/** Bytes of a file's message on the wire: the 4-byte count, then its lines. */
const wireBytes = (content: string): number => 4 + Buffer.byteLength(content);

/** Every k.txt in every session folder: folder name, file name, content. */
async function stored(dir: string): Promise<{ session: string; name: string; content: string }[]> {
  const out: { session: string; name: string; content: string }[] = [];
  for (const session of (await readdir(dir)).sort()) {
    for (const name of (await readdir(join(dir, session))).sort()) {
      out.push({ session, name, content: await readFile(join(dir, session, name), 'utf8') });
    }
  }
  return out;
}

type Event = Record<string, unknown>;
const events = (stdout: string): Event[] =>
  stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Event);

/** The command line's file names answered A, in order. */
const acceptedNames = (evs: Event[]): string[] =>
  evs.filter((e) => e['event'] === 'file' && e['status'] === 'A').map((e) => String(e['name']));

describe('send --retry', () => {
  for (const how of ['close', 'reset'] as const) {
    test(
      `a connection ${how === 'close' ? 'closed' : 'reset'} mid-file: the rest are sent again ` +
        `over a new connection, each file stored once; exit 0`,
      async () => {
        const s = await runServer({ layout: 'session' });
        const files = await tempDir();
        const closed: ConnectionSummary[] = [];
        s.server.on('connectionClosed', (e) => closed.push(e));
        let proxy: CutProxy | undefined;
        try {
          const { paths, contents } = await makeFiles(files);
          const cutAt = wireBytes(contents[0]!) + wireBytes(contents[1]!) + Math.floor(wireBytes(contents[2]!) / 2);
          proxy = await CutProxy.start(s.port, (n) => (n === 0 ? { after: cutAt, how } : undefined));
          const result = await linedrop([
            'send',
            '--host',
            HOST,
            '--port',
            String(proxy.port),
            '--retry',
            '3',
            '--retry-delay',
            '50',
            '--max-in-flight',
            '1',
            '--json',
            ...paths,
          ]);
          assert.equal(result.code, 0, result.stderr);
          const evs = events(result.stdout);
          assert.deepEqual(acceptedNames(evs), paths, 'every file answered A exactly once, in order');
          const retries = evs.filter((e) => e['event'] === 'retry');
          assert.equal(retries.length, 1);
          assert.equal(retries[0]!['retry'], 1);
          assert.equal(retries[0]!['retries'], 3);
          assert.equal(retries[0]!['remaining'], 3);
          assert.match(
            String(retries[0]!['reason']),
            /f3\.txt: connection lost|f3\.txt: the server closed the connection/,
          );
          const summary = evs.at(-1)!;
          assert.deepEqual(
            [
              summary['event'],
              summary['accepted'],
              summary['rejected'],
              summary['notSent'],
              summary['exitCode'],
              summary['reconnects'],
            ],
            ['summary', 5, 0, 0, 0, 1],
          );
          // Files 1-2 went over the first connection, 3-5 over the second, each numbered from 1.txt.
          assert.deepEqual(
            evs.filter((e) => e['status'] === 'A').map((e) => [e['connection'], e['message']]),
            [
              [1, 1],
              [1, 2],
              [2, 1],
              [2, 2],
              [2, 3],
            ],
          );
          assert.match(result.stderr, /reconnecting in \d+ ms \(retry 1 of 3\), 3 files left to send/);

          assert.equal(await until(() => closed.length === 2), true);
          assert.deepEqual(
            closed.map((c) => [c.reason, c.files]),
            [
              ['truncated', 2],
              ['quit', 3],
            ],
          );
          const all = await stored(s.dir);
          const sessions = [...new Set(all.map((f) => f.session))];
          assert.equal(sessions.length, 2, 'the retried files are in a new session folder');
          assert.deepEqual(
            all.map((f) => [sessions.indexOf(f.session), f.name, contents.indexOf(f.content) + 1]),
            [
              [0, '1.txt', 1],
              [0, '2.txt', 2],
              [1, '1.txt', 3],
              [1, '2.txt', 4],
              [1, '3.txt', 5],
            ],
            'the union of the folders holds each file exactly once, nothing partial',
          );
        } finally {
          await proxy?.close();
          await s.close();
          await removeDir(files);
        }
      },
    );
  }

  test(
    'files in flight when the connection breaks (the default window): every file answered A ' +
      'once, each stored at least once, nothing partial',
    async () => {
      const s = await runServer({ layout: 'session' });
      const files = await tempDir();
      let proxy: CutProxy | undefined;
      try {
        const { paths, contents } = await makeFiles(files);
        const cutAt = wireBytes(contents[0]!) + wireBytes(contents[1]!) + Math.floor(wireBytes(contents[2]!) / 2);
        proxy = await CutProxy.start(s.port, (n) => (n === 0 ? { after: cutAt, how: 'close' } : undefined));
        const result = await linedrop([
          'send',
          '--host',
          HOST,
          '--port',
          String(proxy.port),
          '--retry',
          '3',
          '--retry-delay',
          '50',
          '--json',
          ...paths,
        ]);
        assert.equal(result.code, 0, result.stderr);
        const evs = events(result.stdout);
        assert.deepEqual(acceptedNames(evs), paths, 'every file answered A exactly once, in order');
        assert.equal(evs.filter((e) => e['event'] === 'retry').length, 1);
        await s.server.idle();
        // A file whose A was lost with the connection is sent again: stored once more, never partly.
        const all = await stored(s.dir);
        assert.deepEqual([...new Set(all.map((f) => contents.indexOf(f.content) + 1))].sort(), [1, 2, 3, 4, 5]);
        assert.ok(all.length <= 7, 'at most the two files before the cut stored twice');
      } finally {
        await proxy?.close();
        await s.close();
        await removeDir(files);
      }
    },
  );

  test('without --retry the same break gives exit 4 (connection lost); the files before it are stored', async () => {
    const s = await runServer({ layout: 'session' });
    const files = await tempDir();
    const closed: ConnectionSummary[] = [];
    s.server.on('connectionClosed', (e) => closed.push(e));
    let proxy: CutProxy | undefined;
    try {
      const { paths, contents } = await makeFiles(files);
      const cutAt = wireBytes(contents[0]!) + wireBytes(contents[1]!) + 10;
      proxy = await CutProxy.start(s.port, (n) => (n === 0 ? { after: cutAt, how: 'close' } : undefined));
      const result = await linedrop([
        'send',
        '--host',
        HOST,
        '--port',
        String(proxy.port),
        '--max-in-flight',
        '1',
        '--json',
        ...paths,
      ]);
      assert.equal(result.code, 4, result.stderr);
      const evs = events(result.stdout);
      assert.deepEqual(
        evs.map((e) => [e['event'], e['outcome'] ?? null]),
        [
          ['file', 'accepted'],
          ['file', 'accepted'],
          ['file', 'failed'],
          ['file', 'not-sent'],
          ['file', 'not-sent'],
          ['summary', null],
        ],
      );
      assert.equal(evs.at(-1)!['exitCode'], 4);
      assert.doesNotMatch(result.stderr, /reconnecting/);
      assert.equal(proxy.connections, 1);
      // The server removes the cut-off file when it closes the connection: wait for that, then look.
      assert.equal(await until(() => closed.length === 1), true);
      assert.deepEqual(
        (await stored(s.dir)).map((f) => f.content),
        contents.slice(0, 2),
      );
    } finally {
      await proxy?.close();
      await s.close();
      await removeDir(files);
    }
  });

  test('connection refused at first: reconnects until the server is up, then sends everything; exit 0', async () => {
    const files = await tempDir();
    const dir = await tempDir();
    const port = await freePort();
    let started: Awaited<ReturnType<typeof startServerOn>> | undefined;
    try {
      const { paths, contents } = await makeFiles(files, 2);
      let starting: Promise<void> | undefined;
      const run = linedrop(
        ['send', '--host', HOST, '--port', String(port), '--retry', '5', '--retry-delay', '150', '--json', ...paths],
        (stderr) => {
          // The first retry is reported: only now does the server start.
          if (starting === undefined && /reconnecting/.test(stderr)) {
            starting = startServerOn(port, dir).then((s) => {
              started = s;
            });
          }
        },
      );
      const result = await run;
      await starting;
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stderr,
        /cannot connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED.*; reconnecting in \d+ ms \(retry 1 of 5\), 2 files left to send/,
      );
      const evs = events(result.stdout);
      assert.ok(evs.filter((e) => e['event'] === 'retry').length >= 1);
      assert.deepEqual(acceptedNames(evs), paths);
      assert.equal(await readFile(join(dir, '1.txt'), 'utf8'), contents[0]);
      assert.equal(await readFile(join(dir, '2.txt'), 'utf8'), contents[1]);
    } finally {
      await started?.close();
      await removeDir(files);
      await removeDir(dir);
    }
  });

  test('a file answered R is final: no retry, exit 1, one connection', async () => {
    const s = await runServer({ limits: { maxLines: 5 } });
    const files = await tempDir();
    let opened = 0;
    s.server.on('connectionOpened', () => opened++);
    try {
      const { paths } = await makeFiles(files, 3); // 4, 5 and 6 lines: the third is over the limit
      const result = await linedrop([
        'send',
        '--host',
        HOST,
        '--port',
        String(s.port),
        '--retry',
        '3',
        '--retry-delay',
        '20',
        '--json',
        ...paths,
      ]);
      assert.equal(result.code, 1, result.stderr);
      const evs = events(result.stdout);
      assert.deepEqual(
        evs.map((e) => [e['event'], e['status'] ?? null]),
        [
          ['file', 'A'],
          ['file', 'A'],
          ['file', 'R'],
          ['summary', null],
        ],
      );
      assert.equal(evs.at(-1)!['reconnects'], undefined);
      assert.doesNotMatch(result.stderr, /reconnecting/);
      await until(() => s.server.connections === 0);
      assert.equal(opened, 1);
    } finally {
      await s.close();
      await removeDir(files);
    }
  });

  test('a connection lost during the quit message: only the quit is sent again; each file stored once', async () => {
    const s = await runServer({ layout: 'session' });
    const files = await tempDir();
    const closed: ConnectionSummary[] = [];
    s.server.on('connectionClosed', (e) => closed.push(e));
    let proxy: CutProxy | undefined;
    try {
      const { paths, contents } = await makeFiles(files);
      const cutAt = contents.reduce((sum, c) => sum + wireBytes(c), 0) + 2;
      proxy = await CutProxy.start(s.port, (n) => (n === 0 ? { after: cutAt, how: 'close' } : undefined));
      const result = await linedrop([
        'send',
        '--host',
        HOST,
        '--port',
        String(proxy.port),
        '--retry',
        '2',
        '--retry-delay',
        '20',
        '--json',
        ...paths,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const evs = events(result.stdout);
      assert.deepEqual(acceptedNames(evs), paths);
      assert.deepEqual(
        evs.filter((e) => e['event'] === 'retry').map((e) => e['remaining']),
        [0],
      );
      assert.match(result.stderr, /only the quit message left to send/);
      assert.equal(await until(() => closed.length === 2), true);
      assert.deepEqual(
        closed.sort((a, b) => a.connection - b.connection).map((c) => c.files),
        [5, 0],
      );
      assert.deepEqual(
        (await stored(s.dir)).map((f) => contents.indexOf(f.content) + 1),
        [1, 2, 3, 4, 5],
      );
    } finally {
      await proxy?.close();
      await s.close();
      await removeDir(files);
    }
  });

  test('retries exhausted: exit 4 after N reconnects, each reported', async () => {
    const s = await runServer({ layout: 'session' });
    const files = await tempDir();
    let proxy: CutProxy | undefined;
    try {
      const { paths } = await makeFiles(files, 2);
      proxy = await CutProxy.start(s.port, () => ({ after: 6, how: 'reset' }));
      const result = await linedrop([
        'send',
        '--host',
        HOST,
        '--port',
        String(proxy.port),
        '--retry',
        '2',
        '--retry-delay',
        '20',
        '--json',
        ...paths,
      ]);
      assert.equal(result.code, 4, result.stderr);
      assert.equal(proxy.connections, 3, 'the first connection and two reconnects');
      const evs = events(result.stdout);
      assert.deepEqual(
        evs.filter((e) => e['event'] === 'retry').map((e) => e['retry']),
        [1, 2],
      );
      assert.deepEqual(
        evs.filter((e) => e['event'] === 'file').map((e) => e['outcome']),
        ['failed', 'not-sent'],
      );
      assert.equal(evs.at(-1)!['reconnects'], 2);
      assert.equal(result.stderr.match(/reconnecting/g)?.length, 2);
      assert.equal(await until(() => s.server.connections === 0), true);
      assert.deepEqual(await stored(s.dir), [], 'nothing stored, no partial file left');
      assert.equal(
        await until(async () => (await readdir(s.dir)).length === 0),
        true,
        'no session folder is left by connections that stored nothing',
      );
    } finally {
      await proxy?.close();
      await s.close();
      await removeDir(files);
    }
  });

  test('the delay doubles per retry, with jitter in its upper half, capped at 10 s', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => retryDelay(n, 200, () => 1)),
      [200, 400, 800, 1600],
    );
    assert.deepEqual(
      [1, 2, 3].map((n) => retryDelay(n, 200, () => 0)),
      [100, 200, 400],
    );
    assert.equal(
      retryDelay(30, 200, () => 1),
      10_000,
    );
    assert.equal(retryDelay(1, 0), 0);
  });
});
