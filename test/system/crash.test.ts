// The promise under test: when the server answers `A`, that file is complete on disk and survives
// a crash; a file that was not answered `A` never appears as `k.txt` and never replaces an earlier one.
//
// 1. A client that disconnects at every byte offset of a stream (half-close, and a reset).
// 2. The server process killed with SIGKILL in the middle of an upload, then restarted.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ConnectionSummary, LinedropServer } from '../../src/index.js';
import { isTempName } from '../../src/storage/file-sink.js';
import {
  QUIT,
  RawPeer,
  ServerProcess,
  frame,
  listDir,
  removeDir,
  runServer,
  sleep,
  tempDir,
  until,
  within,
} from '../support.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** The next event of that name on the server, at most `ms` from now (register before acting). */
function nextEvent<K extends 'connectionOpened' | 'connectionClosed'>(
  server: LinedropServer,
  name: K,
  ms = 10_000,
): Promise<unknown[]> {
  return within(once(server, name), ms, `the server's ${name} event`);
}

async function clearDir(dir: string): Promise<void> {
  for (const name of await listDir(dir)) await rm(join(dir, name), { recursive: true, force: true });
}

/** The names `1.txt` .. `k.txt`. */
function numbered(k: number): string[] {
  return Array.from({ length: k }, (_, i) => `${i + 1}.txt`).sort();
}

/** The body a message's file must hold: each line and its `\n`. */
function body(lines: string[]): Buffer {
  return Buffer.concat(lines.map((l) => Buffer.from(`${l}\n`, 'utf8')));
}

/** The linedrop CLI server as a child process, its JSON log parsed from standard error. */
/** Lines of 64 bytes (63 and `\n`): 16,384 of them are exactly 1 MiB. */
const BIG_LINE = `${'0123456789abcdef'.repeat(4).slice(0, 63)}\n`;
const MIB_OF_LINES = Buffer.from(BIG_LINE.repeat(16_384));
/** A message announcing 200 MiB of lines. */
const BIG_COUNT = 200 * 16_384;

function countHeader(n: number): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(n);
  return head;
}

/**
 * Starts a 200 MiB message on `peer` and streams it a MiB at a time until the temporary file for
 * `name` exists in `dir` and holds data; returns that temporary file's name. The message is never
 * finished.
 */
async function startBigUpload(peer: RawPeer, dir: string, name: string, pid: number): Promise<string> {
  await peer.write(countHeader(BIG_COUNT));
  const pattern = new RegExp(`^\\.linedrop-${name.replace('.', '\\.')}\\.${pid}\\.[0-9a-f]+\\.[0-9]+\\.part$`);
  const deadline = Date.now() + 15_000;
  for (let sent = 0; sent < 100 && Date.now() < deadline; sent++) {
    await within(peer.write(MIB_OF_LINES), 10_000, 'a MiB to be written');
    const temp = (await listDir(dir)).find((n) => pattern.test(n));
    if (temp !== undefined && sent >= 2) {
      const size = (await stat(join(dir, temp)).catch(() => undefined))?.size ?? 0;
      if (size > 0) return temp;
    }
    await sleep(20);
  }
  assert.fail(`no temporary file for ${name} with data appeared in ${dir}: ${(await listDir(dir)).join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// 1. Disconnect at every byte offset

const MESSAGES: string[][] = [['alpha', '', 'gamma\r'], ['ü tab\there'], ['x', 'yy', 'zzz', '']];
const STREAM = Buffer.concat([...MESSAGES.map((m) => frame(m)), QUIT]);
/** Offsets in STREAM where each message ends (exclusive), the quit message last. */
const ENDS: number[] = (() => {
  const ends: number[] = [];
  let at = 0;
  for (const m of MESSAGES) ends.push((at += frame(m).length));
  ends.push(at + QUIT.length);
  return ends;
})();

/** How many of the three file messages are wholly inside the first `p` bytes. */
function completeIn(p: number): number {
  return ENDS.slice(0, MESSAGES.length).filter((end) => end <= p).length;
}

/** Checks the folder holds exactly 1.txt .. k.txt, byte-exact, and nothing else. */
async function assertExactly(dir: string, k: number, context: string): Promise<void> {
  assert.deepEqual(await listDir(dir), numbered(k), `${context}: the folder holds exactly 1.txt..${k}.txt`);
  for (let i = 1; i <= k; i++) {
    assert.deepEqual(
      await readFile(join(dir, `${i}.txt`)),
      body(MESSAGES[i - 1]!),
      `${context}: ${i}.txt is byte-exact`,
    );
  }
}

describe('a client that disconnects at every byte offset', () => {
  test('half-close after every prefix: exactly the messages answered A are stored, byte-exact', async () => {
    const s = await runServer();
    try {
      for (let p = 0; p <= STREAM.length; p++) {
        const context = `prefix of ${p} of ${STREAM.length} bytes`;
        const closed = nextEvent(s.server, 'connectionClosed');
        const peer = await RawPeer.connect(s.port);
        if (p > 0) await peer.write(STREAM.subarray(0, p));
        peer.socket.end();
        assert.equal(await peer.waitClosed(10_000), true, `${context}: the server closes the connection`);
        const [summary] = (await closed) as [ConnectionSummary];
        const statuses = String.fromCharCode(...peer.received);
        peer.destroy();

        const complete = completeIn(p);
        const atBoundary = p === 0 || ENDS.includes(p);
        const expected = 'A'.repeat(complete) + (p === STREAM.length ? 'Q' : atBoundary ? '' : 'R');
        assert.equal(statuses, expected, `${context}: statuses`);
        assert.equal(
          summary.reason,
          p === STREAM.length ? 'quit' : atBoundary ? 'client-closed' : 'truncated',
          `${context}: close reason`,
        );
        assert.equal(summary.files, complete, `${context}: files in the summary`);
        await assertExactly(s.dir, statuses.split('').filter((c) => c === 'A').length, context);
        await clearDir(s.dir);
      }
    } finally {
      await s.close();
    }
  });

  for (const variant of ['at once', 'after reading the answers'] as const) {
    test(`reset (RST) after every prefix, ${variant}: only complete messages, in order, byte-exact; every A stored`, async (t) => {
      const s = await runServer();
      let storedUnread = 0;
      try {
        for (let p = 0; p <= STREAM.length; p++) {
          const context = `prefix of ${p} of ${STREAM.length} bytes, reset ${variant}`;
          const opened = nextEvent(s.server, 'connectionOpened');
          const closed = nextEvent(s.server, 'connectionClosed');
          const peer = await RawPeer.connect(s.port);
          await opened;
          if (p > 0) await peer.write(STREAM.subarray(0, p));
          const complete = completeIn(p);
          if (variant === 'after reading the answers') {
            const statuses = await peer.statuses(complete, 5_000);
            assert.equal(
              statuses.slice(0, complete),
              'A'.repeat(complete),
              `${context}: an A for each complete message`,
            );
            assert.equal(
              statuses.slice(complete).replace('Q', ''),
              '',
              `${context}: nothing but the quit's Q after them`,
            );
          }
          const answered = peer.received.filter((b) => b === 0x41).length;
          peer.socket.resetAndDestroy();
          await closed;

          const names = await listDir(s.dir);
          assert.deepEqual(
            names.filter((n) => !/^[1-9][0-9]*\.txt$/.test(n)),
            [],
            `${context}: no temporary or other file (${names.join(', ')})`,
          );
          const stored = names.length;
          assert.deepEqual(names, numbered(stored), `${context}: the files are 1.txt..k.txt with no gap`);
          assert.ok(
            stored <= complete,
            `${context}: ${stored} files stored but only ${complete} messages were complete`,
          );
          assert.ok(stored >= answered, `${context}: ${answered} answered A but only ${stored} stored`);
          if (variant === 'after reading the answers')
            assert.equal(stored, complete, `${context}: every message answered A is stored`);
          storedUnread += stored - answered;
          await assertExactly(s.dir, stored, context);
          await clearDir(s.dir);
        }
      } finally {
        await s.close();
      }
      // Not an assertion: how often a file was stored whose A the client never read.
      t.diagnostic(`files stored whose A was not read: ${storedUnread}`);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 2. kill -9 in the middle of an upload

describe('the server killed with SIGKILL mid-upload', () => {
  test(
    'files answered A survive intact, the interrupted one never appears; a restart removes the ' +
      'left-over and serves again',
    async () => {
      const dir = await tempDir();
      let server: ServerProcess | undefined;
      let again: ServerProcess | undefined;
      let peer: RawPeer | undefined;
      try {
        server = await ServerProcess.start(dir);
        const files = [['first file', 'two lines'], ['second: ü\r\ttab'], ['third', '', 'with an empty line']];
        peer = await RawPeer.connect(server.port);
        await peer.write(Buffer.concat(files.map((f) => frame(f))));
        assert.equal(await peer.statuses(3), 'AAA');

        // The fourth message: 200 MiB announced, a few MiB sent, then the server dies.
        const temp = await startBigUpload(peer, dir, '4.txt', server.pid);
        await server.crash();
        peer.destroy();

        assert.deepEqual(
          await listDir(dir),
          [temp, '1.txt', '2.txt', '3.txt'].sort(),
          'after the crash: the A files and the left-over temporary file',
        );
        for (let i = 0; i < files.length; i++) {
          assert.deepEqual(
            await readFile(join(dir, `${i + 1}.txt`)),
            body(files[i]!),
            `${i + 1}.txt is intact after the crash`,
          );
        }

        // Restart on the same folder.
        again = await ServerProcess.start(dir);
        assert.deepEqual(
          await listDir(dir),
          ['1.txt', '2.txt', '3.txt'],
          'the left-over is gone once the server listens',
        );
        const removal = again.logs().find((e) => e['removed'] !== undefined);
        assert.ok(removal, `the log says a left-over was removed:\n${again.text()}`);
        assert.equal(removal['removed'], 1);
        assert.match(String(removal['msg']), /removed 1 temporary file/);
        for (let i = 0; i < files.length; i++) {
          assert.deepEqual(
            await readFile(join(dir, `${i + 1}.txt`)),
            body(files[i]!),
            `${i + 1}.txt is intact after the restart`,
          );
        }

        // A new upload works (flat layout: it becomes 1.txt again).
        const next = await RawPeer.connect(again.port);
        await next.write(Buffer.concat([frame(['after the restart']), QUIT]));
        assert.equal(await next.statuses(2), 'AQ');
        assert.equal(await next.waitClosed(), true);
        next.destroy();
        assert.deepEqual(await listDir(dir), ['1.txt', '2.txt', '3.txt']);
        assert.deepEqual(await readFile(join(dir, '1.txt')), body(['after the restart']));
        assert.deepEqual(await readFile(join(dir, '2.txt')), body(files[1]!));

        again.child.kill('SIGTERM');
        assert.equal((await within(again.exited, 10_000, 'the restarted server to stop')).code, 0);
      } finally {
        peer?.destroy();
        await server?.stop();
        await again?.stop();
        await removeDir(dir);
      }
    },
  );

  test('an interrupted upload of a new 1.txt never replaces the good 1.txt of an earlier connection', async () => {
    const dir = await tempDir();
    let server: ServerProcess | undefined;
    let again: ServerProcess | undefined;
    let peer: RawPeer | undefined;
    try {
      server = await ServerProcess.start(dir);
      const good = ['the good 1.txt', 'from an earlier connection'];
      const first = await RawPeer.connect(server.port);
      await first.write(Buffer.concat([frame(good), QUIT]));
      assert.equal(await first.statuses(2), 'AQ');
      assert.equal(await first.waitClosed(), true);
      first.destroy();
      assert.deepEqual(await readFile(join(dir, '1.txt')), body(good));

      // A second connection starts a new 1.txt (flat layout: it would overwrite) and the server dies.
      peer = await RawPeer.connect(server.port);
      const temp = await startBigUpload(peer, dir, '1.txt', server.pid);
      await server.crash();
      peer.destroy();

      assert.deepEqual(await listDir(dir), [temp, '1.txt'].sort());
      assert.deepEqual(await readFile(join(dir, '1.txt')), body(good), 'the old 1.txt is still there after the crash');

      again = await ServerProcess.start(dir);
      assert.deepEqual(await listDir(dir), ['1.txt'], 'the restart removes the left-over');
      assert.deepEqual(
        await readFile(join(dir, '1.txt')),
        body(good),
        'the old 1.txt is still there after the restart',
      );
      assert.equal(isTempName(temp), true);
    } finally {
      peer?.destroy();
      await server?.stop();
      await again?.stop();
      await removeDir(dir);
    }
  });

  test(
    "session layout: the left-over in a connection's sub-folder is removed at start-up, the A " + 'files are intact',
    async () => {
      const dir = await tempDir();
      let server: ServerProcess | undefined;
      let again: ServerProcess | undefined;
      let peer: RawPeer | undefined;
      try {
        server = await ServerProcess.start(dir, ['--layout', 'session']);
        peer = await RawPeer.connect(server.port);
        await peer.write(Buffer.concat([frame(['stored', 'before the crash']), frame(['second'])]));
        assert.equal(await peer.statuses(2), 'AA');
        assert.equal(await until(async () => (await listDir(dir)).length === 1), true, 'one session folder');
        const session = join(dir, (await listDir(dir))[0]!);
        const temp = await startBigUpload(peer, session, '3.txt', server.pid);
        await server.crash();
        peer.destroy();
        assert.deepEqual(await listDir(session), [temp, '1.txt', '2.txt'].sort());

        again = await ServerProcess.start(dir, ['--layout', 'session']);
        assert.deepEqual(await listDir(session), ['1.txt', '2.txt'], 'the left-over in the sub-folder is gone');
        assert.equal(
          again.logs().find((e) => e['removed'] !== undefined)?.['removed'],
          1,
          `the log says so:\n${again.text()}`,
        );
        assert.deepEqual(await readFile(join(session, '1.txt')), body(['stored', 'before the crash']));
        assert.deepEqual(await readFile(join(session, '2.txt')), body(['second']));
      } finally {
        peer?.destroy();
        await server?.stop();
        await again?.stop();
        await removeDir(dir);
      }
    },
  );
});
