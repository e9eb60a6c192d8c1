import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ConnectionSummary } from '../../src/index.js';
import { isTempName } from '../../src/storage/file-sink.js';
import { QUIT, RawPeer, frame, listDir, runServer, sleep, until } from '../support.js';

const fileText = (lines: string[]): string => lines.map((l) => `${l}\n`).join('');

describe('server over real sockets', () => {
  test('saves each message as k.txt, answers A per file, Q for the quit, then closes', async () => {
    const s = await runServer();
    try {
      const peer = await RawPeer.connect(s.port);
      await peer.write(frame(['first line', 'second']));
      assert.equal(await peer.statuses(1), 'A');
      await peer.write(frame(['only']));
      assert.equal(await peer.statuses(2), 'AA');
      await peer.write(QUIT);
      assert.equal(await peer.statuses(3), 'AAQ');
      assert.equal(await peer.waitClosed(), true, 'the server closes the connection after Q');
      assert.deepEqual(await listDir(s.dir), ['1.txt', '2.txt']);
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'first line\nsecond\n');
      assert.equal(await readFile(join(s.dir, '2.txt'), 'utf8'), 'only\n');
    } finally {
      await s.close();
    }
  });

  test("the template client's timing: count as 00 00, a 1 s pause, then 00 NN", async () => {
    const s = await runServer();
    try {
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.from([0, 0]));
      await sleep(1000);
      await peer.write(Buffer.from([0, 2]));
      await peer.write('alpha\n');
      await peer.write('beta\n');
      assert.equal(await peer.statuses(1), 'A');
      await peer.write(Buffer.from([0, 0]));
      await sleep(1000);
      await peer.write(Buffer.from([0, 0]));
      assert.equal(await peer.statuses(2), 'AQ');
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'alpha\nbeta\n');
    } finally {
      await s.close();
    }
  });

  test('several messages and the quit in one write, before any status is read', async () => {
    const s = await runServer();
    try {
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([frame(['a']), frame(['b', 'c']), frame(['d', 'e', 'f']), QUIT]));
      assert.equal(await peer.statuses(4), 'AAAQ');
      assert.equal(await peer.waitClosed(), true);
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'a\n');
      assert.equal(await readFile(join(s.dir, '2.txt'), 'utf8'), 'b\nc\n');
      assert.equal(await readFile(join(s.dir, '3.txt'), 'utf8'), 'd\ne\nf\n');
    } finally {
      await s.close();
    }
  });

  test('one byte at a time', async () => {
    const s = await runServer();
    try {
      const peer = await RawPeer.connect(s.port);
      const stream = Buffer.concat([frame(['one byte', 'at a time']), frame(['x']), QUIT]);
      for (const byte of stream) await peer.write(Buffer.from([byte]));
      assert.equal(await peer.statuses(3), 'AAQ');
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'one byte\nat a time\n');
      assert.equal(await readFile(join(s.dir, '2.txt'), 'utf8'), 'x\n');
    } finally {
      await s.close();
    }
  });

  test('empty lines, \\r, tabs, UTF-8 and other bytes are kept exactly', async () => {
    const s = await runServer();
    try {
      const lines = [
        Buffer.from(''),
        Buffer.from('crlf\r'),
        Buffer.from('\ttab\there'),
        Buffer.from('žluťoučký kůň 🐎'),
        Buffer.from([0, 1, 0xff, 0x7f]),
        Buffer.from(''),
      ];
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([frame(lines), QUIT]));
      assert.equal(await peer.statuses(2), 'AQ');
      const expected = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
      assert.deepEqual(await readFile(join(s.dir, '1.txt')), expected);
    } finally {
      await s.close();
    }
  });

  test('flat layout: numbering restarts per connection and a later connection overwrites 1.txt', async () => {
    const s = await runServer({ layout: 'flat' });
    try {
      const first = await RawPeer.connect(s.port);
      await first.write(
        Buffer.concat([frame(['first connection, file 1']), frame(['first connection, file 2']), QUIT]),
      );
      assert.equal(await first.statuses(3), 'AAQ');
      const second = await RawPeer.connect(s.port);
      await second.write(Buffer.concat([frame(['second connection']), QUIT]));
      assert.equal(await second.statuses(2), 'AQ');
      assert.deepEqual(await listDir(s.dir), ['1.txt', '2.txt']);
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'second connection\n');
      assert.equal(await readFile(join(s.dir, '2.txt'), 'utf8'), 'first connection, file 2\n');
    } finally {
      await s.close();
    }
  });

  test('session layout: each connection gets its own folder and nothing is overwritten', async () => {
    const s = await runServer({ layout: 'session' });
    try {
      for (const text of ['first', 'second']) {
        const peer = await RawPeer.connect(s.port);
        await peer.write(Buffer.concat([frame([text]), QUIT]));
        assert.equal(await peer.statuses(2), 'AQ');
      }
      const folders = await listDir(s.dir);
      assert.equal(folders.length, 2);
      assert.notEqual(folders[0], folders[1]);
      const contents = await Promise.all(folders.map((f) => readFile(join(s.dir, f, '1.txt'), 'utf8')));
      assert.deepEqual(contents, ['first\n', 'second\n']);
    } finally {
      await s.close();
    }
  });

  test('--save-empty saves the zero-line message as the next k.txt', async () => {
    const s = await runServer({ saveEmpty: true });
    try {
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([frame(['x']), QUIT]));
      assert.equal(await peer.statuses(2), 'AQ');
      assert.deepEqual(await listDir(s.dir), ['1.txt', '2.txt']);
      assert.equal((await stat(join(s.dir, '2.txt'))).size, 0);
    } finally {
      await s.close();
    }
  });

  test(
    'a client that vanishes mid-message: no new k.txt, no temporary file, earlier files intact, ' +
      'server still serving',
    async () => {
      const s = await runServer();
      try {
        const closed = new Promise<ConnectionSummary>((resolve) => s.server.once('connectionClosed', resolve));
        const peer = await RawPeer.connect(s.port);
        await peer.write(frame(['kept']));
        assert.equal(await peer.statuses(1), 'A');
        await peer.write(frame(['complete line', 'partial line that never ends']).subarray(0, 30));
        // The half-received file is in a temporary file, never under its final name.
        assert.equal(await until(async () => (await listDir(s.dir)).some(isTempName)), true);
        assert.deepEqual(
          (await listDir(s.dir)).filter((n) => !isTempName(n)),
          ['1.txt'],
        );
        peer.destroy();
        const summary = await closed;
        assert.equal(summary.reason, 'truncated');
        assert.deepEqual(await listDir(s.dir), ['1.txt']);
        assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'kept\n');

        const next = await RawPeer.connect(s.port);
        await next.write(Buffer.concat([frame(['still serving']), QUIT]));
        assert.equal(await next.statuses(2), 'AQ');
      } finally {
        await s.close();
      }
    },
  );

  test('a count of 0xFFFFFFFF is answered R and the connection closed, nothing saved', async () => {
    const s = await runServer();
    try {
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x41, 0x0a]));
      assert.equal(await peer.statuses(1), 'R');
      assert.equal(await peer.waitClosed(), true);
      assert.deepEqual(await listDir(s.dir), []);
    } finally {
      await s.close();
    }
  });

  test('a 64 MiB line with no newline is refused at the line limit, without buffering it', async () => {
    const s = await runServer();
    try {
      const closed = new Promise<ConnectionSummary>((resolve) => s.server.once('connectionClosed', resolve));
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.from([0, 0, 0, 1]));
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let sent = 0;
      const before = process.memoryUsage().arrayBuffers;
      while (sent < 64 * 1024 * 1024 && !peer.closed && peer.received.length === 0) {
        const ok = peer.socket.write(chunk);
        sent += chunk.length;
        if (!ok) await Promise.race([new Promise((r) => peer.socket.once('drain', r)), sleep(200)]);
      }
      assert.equal(await peer.statuses(1), 'R');
      const summary = await closed;
      assert.equal((summary.error as { code?: string } | undefined)?.code, 'LINEDROP_ERR_LINE_TOO_LONG');
      assert.ok(sent < 32 * 1024 * 1024, `the server stopped the upload early (after ${sent} bytes were written)`);
      assert.ok(process.memoryUsage().arrayBuffers - before < 48 * 1024 * 1024, 'the line was not buffered');
      assert.deepEqual(await listDir(s.dir), [], 'no file and no temporary file');
    } finally {
      await s.close();
    }
  });

  test('random junk gets R or a close, never a crash; the server keeps serving', async () => {
    const s = await runServer();
    try {
      let seed = 12345;
      const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
      for (let round = 0; round < 30; round++) {
        const junk = Buffer.alloc(1 + Math.floor(random() * 2000));
        for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(random() * 256);
        const peer = await RawPeer.connect(s.port);
        await peer.write(junk).catch(() => undefined);
        peer.socket.end();
        assert.equal(await peer.waitClosed(), true);
        assert.match(String.fromCharCode(...peer.received), /^A*[RQ]?$/);
      }
      assert.equal((await readdir(s.dir)).filter(isTempName).length, 0, 'no temporary file left');
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([frame(['after the junk']), QUIT]));
      assert.equal(await peer.statuses(2), 'AQ');
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'after the junk\n');
    } finally {
      await s.close();
    }
  });

  test('40 clients at once, each with its own files (session layout)', async () => {
    const s = await runServer({ layout: 'session' });
    try {
      const texts = (c: number, f: number): string[] =>
        Array.from({ length: 1 + ((c + f) % 7) }, (_, i) => `client ${c} file ${f} line ${i}`);
      const clients = await Promise.all(Array.from({ length: 40 }, () => RawPeer.connect(s.port)));
      await Promise.all(
        clients.map(async (peer, c) => {
          for (let f = 1; f <= 3; f++) {
            await peer.write(frame(texts(c, f)));
            assert.equal(await peer.statuses(f), 'A'.repeat(f));
          }
          await peer.write(QUIT);
          assert.equal(await peer.statuses(4), 'AAAQ');
        }),
      );
      const folders = await listDir(s.dir);
      assert.equal(folders.length, 40);
      const seen = new Set<string>();
      for (const folder of folders) {
        assert.deepEqual(await listDir(join(s.dir, folder)), ['1.txt', '2.txt', '3.txt']);
        const first = await readFile(join(s.dir, folder, '1.txt'), 'utf8');
        const c = Number(/^client (\d+) /.exec(first)?.[1]);
        seen.add(String(c));
        for (let f = 1; f <= 3; f++) {
          assert.equal(await readFile(join(s.dir, folder, `${f}.txt`), 'utf8'), fileText(texts(c, f)));
        }
      }
      assert.equal(seen.size, 40);
    } finally {
      await s.close();
    }
  });

  test('a stalled client does not hold up another one', async () => {
    const s = await runServer();
    try {
      const stalled = await RawPeer.connect(s.port);
      await stalled.write(frame(['never finished', 'x']).subarray(0, 12));
      const other = await RawPeer.connect(s.port);
      await other.write(Buffer.concat([frame(['quick']), QUIT]));
      assert.equal(await other.statuses(2, 3000), 'AQ');
      stalled.destroy();
    } finally {
      await s.close();
    }
  });
});
