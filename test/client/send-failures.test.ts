// A send that fails on the client's side, against a real server: before the first byte of its
// message is out (a file gone, a folder, a symlink loop, a file that changed before it was read)
// the connection stays usable and the messages after it are matched to their own answers; once
// part of it is out, the connection is closed and every later message fails with LINEDROP_ERR_CONNECTION_CLOSED.
// And a file read or measured before it is sent still goes out in call order.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ClientError, LinedropClient, measureFile, type Line } from '../../src/index.js';
import { HOST, listDir, withServer, withTempDir } from '../support.js';
import { exactText } from './texts.js';

const MiB = 1024 * 1024;

const isClientError = (code: string, message?: RegExp) => (e: unknown) =>
  e instanceof ClientError && e.code === code && (message === undefined || message.test(e.message));

/** The server's files, each as text. */
async function stored(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of await listDir(dir)) files[name] = await readFile(join(dir, name), 'latin1');
  return files;
}

describe('client: a send that fails before its first byte leaves the connection usable', () => {
  // How a measured file can stop being readable before it is sent, and what the error says.
  const breaks: [string, (path: string) => Promise<void>, string, RegExp][] = [
    ['is deleted', (path) => rm(path), 'ENOENT', /it does not exist/],
    [
      'is replaced by a folder',
      async (path) => {
        await rm(path);
        await mkdir(path);
      },
      'EISDIR',
      /it is a folder/,
    ],
    [
      'is replaced by a symlink loop',
      async (path) => {
        await rm(path);
        await symlink(path, path);
      },
      'ELOOP',
      /ELOOP/,
    ],
  ];
  for (const [what, breakIt, errno, reason] of breaks) {
    test(
      `a measured file that ${what}: sendFile with its shape fails with ` +
        `LINEDROP_ERR_FILE_UNREADABLE (${errno}), the next message is 1.txt, quit answers Q`,
      async (t) => {
        const s = await withServer(t);
        const dir = await withTempDir(t);
        const path = join(dir, 'gone.txt');
        await writeFile(path, 'one\ntwo\n');
        const shape = await measureFile(path);
        await breakIt(path);
        const client = await LinedropClient.connect({ host: HOST, port: s.port });
        let progress = 0;
        await assert.rejects(
          client.sendFile(path, { shape, onProgress: () => progress++ }),
          (e: unknown) =>
            isClientError(
              'LINEDROP_ERR_FILE_UNREADABLE',
              new RegExp(`^cannot read ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `),
            )(e) &&
            reason.test((e as Error).message) &&
            /nothing of it was sent; the connection is still open/.test((e as Error).message) &&
            ((e as Error).cause as NodeJS.ErrnoException).code === errno,
        );
        assert.equal(progress, 0);
        assert.equal(client.usable, true, 'the connection can carry the next message');
        assert.equal(await client.sendLines(['after', 'it']), 'A');
        assert.equal(await client.quit(), 'Q');
        await client.whenClosed();
        await s.server.idle();
        assert.deepEqual(await stored(s.dir), { '1.txt': 'after\nit\n' });
      },
    );
  }

  test(
    'messages pipelined behind failing ones (every kind of send, window 1, 2 and 64): each ' +
      'stored in order under its own number, each answered A',
    async (t) => {
      const dir = await withTempDir(t);
      const big = join(dir, 'big.txt');
      const bigBody = exactText(5 * MiB + 3, false, 11);
      await writeFile(big, bigBody);
      const small = join(dir, 'small.txt');
      await writeFile(small, 'small\nfile');
      const gone = join(dir, 'gone.txt');
      await writeFile(gone, 'gone\n');
      const folder = join(dir, 'folder.txt');
      await writeFile(folder, 'soon a folder\n');
      const shrunk = join(dir, 'shrunk.txt');
      await writeFile(shrunk, 'will be cut\n');
      const [bigShape, goneShape, folderShape, shrunkShape] = await Promise.all(
        [big, gone, folder, shrunk].map((p) => measureFile(p)),
      );
      await rm(gone);
      await rm(folder);
      await mkdir(folder);
      // Shorter than measured, before anything of it is read: nothing of it is sent either.
      await truncate(shrunk, 4);
      async function* lines(): AsyncGenerator<Line> {
        yield 'typed';
        yield Buffer.from('by hand');
      }
      for (const maxInFlight of [1, 2, 64]) {
        await t.test(`maxInFlight ${maxInFlight}`, async (t) => {
          const s = await withServer(t);
          const client = await LinedropClient.connect({ host: HOST, port: s.port, maxInFlight });
          const calls = [
            client.sendLines(['first']),
            client.sendFile(gone, { shape: goneShape }),
            client.sendFile(gone, { shape: goneShape }),
            client.sendBuffer(Buffer.from('buffer\n')),
            client.sendFile(folder, { shape: folderShape }),
            client.sendFile(big, { shape: bigShape }),
            client.sendFile(shrunk, { shape: shrunkShape }),
            client.sendLineStream(2, lines()),
            client.sendFile(join(dir, 'never.txt')),
            client.sendFile(small),
            client.quit(),
          ];
          const results = await Promise.allSettled(calls);
          const summary = results.map((r) =>
            r.status === 'fulfilled' ? r.value : ((r.reason as ClientError).code ?? String(r.reason)),
          );
          assert.deepEqual(summary, [
            'A',
            'LINEDROP_ERR_FILE_UNREADABLE',
            'LINEDROP_ERR_FILE_UNREADABLE',
            'A',
            'LINEDROP_ERR_FILE_UNREADABLE',
            'A',
            'LINEDROP_ERR_FILE_CHANGED',
            'A',
            'LINEDROP_ERR_FILE_UNREADABLE',
            'A',
            'Q',
          ]);
          const changed = results[6] as PromiseRejectedResult;
          assert.match(
            (changed.reason as Error).message,
            /shrunk\.txt changed before it was sent \(12 bytes when measured, 4 now\); nothing of it was sent/,
          );
          await client.whenClosed();
          await s.server.idle();
          const files = await stored(s.dir);
          assert.deepEqual(Object.keys(files), ['1.txt', '2.txt', '3.txt', '4.txt', '5.txt']);
          assert.equal(files['1.txt'], 'first\n');
          assert.equal(files['2.txt'], 'buffer\n');
          assert.ok(
            (await readFile(join(s.dir, '3.txt'))).equals(Buffer.concat([bigBody, Buffer.from('\n')])),
            'the big file byte for byte',
          );
          assert.equal(files['4.txt'], 'typed\nby hand\n');
          assert.equal(files['5.txt'], 'small\nfile\n');
        });
      }
    },
  );
});

describe('client: call order', () => {
  test(
    'sendFile without a shape (read or measured first) still goes out in call order: a file, ' +
      'lines, a large file, quit',
    async (t) => {
      const s = await withServer(t);
      const dir = await withTempDir(t);
      const small = join(dir, 'small.txt');
      await writeFile(small, 'small\n');
      const large = join(dir, 'large.txt');
      const largeBody = exactText(2 * MiB, true, 3);
      await writeFile(large, largeBody);
      const client = await LinedropClient.connect({ host: HOST, port: s.port });
      const statuses = await Promise.all([
        client.sendFile(small),
        client.sendLines(['lines']),
        client.sendFile(large),
        client.sendLines(['last']),
        client.quit(),
      ]);
      assert.deepEqual(statuses, ['A', 'A', 'A', 'A', 'Q']);
      await client.whenClosed();
      await s.server.idle();
      const files = await stored(s.dir);
      assert.deepEqual(Object.keys(files), ['1.txt', '2.txt', '3.txt', '4.txt']);
      assert.equal(files['1.txt'], 'small\n');
      assert.equal(files['2.txt'], 'lines\n');
      assert.ok((await readFile(join(s.dir, '3.txt'))).equals(largeBody));
      assert.equal(files['4.txt'], 'last\n');
    },
  );
});

describe('client: a send that fails once part of its message is out closes the connection', () => {
  test(
    'lines that fail midway (the source throws): that call rejects with its error, the later ' +
      'ones with LINEDROP_ERR_CONNECTION_CLOSED, nothing of it stored',
    async (t) => {
      const s = await withServer(t);
      const client = await LinedropClient.connect({ host: HOST, port: s.port });
      assert.equal(await client.sendLines(['before']), 'A');
      const broken = new Error('the keyboard was unplugged');
      async function* lines(): AsyncGenerator<Line> {
        yield 'one';
        throw broken;
      }
      const failing = client.sendLineStream(3, lines());
      const after = client.sendLines(['after']);
      const quit = client.quit();
      await assert.rejects(failing, (e: unknown) => e === broken);
      assert.equal(client.usable, false);
      await assert.rejects(
        after,
        isClientError(
          'LINEDROP_ERR_CONNECTION_CLOSED',
          /^the connection was closed because message 2 failed after part of it was sent: the keyboard was unplugged$/,
        ),
      );
      await assert.rejects(quit, isClientError('LINEDROP_ERR_CONNECTION_CLOSED'));
      await client.whenClosed();
      await s.server.idle();
      assert.deepEqual(await stored(s.dir), { '1.txt': 'before\n' });
    },
  );

  test(
    'a large file that changes once its first chunk is out: LINEDROP_ERR_FILE_CHANGED, the ' +
      'message queued behind it LINEDROP_ERR_CONNECTION_CLOSED, neither stored',
    async (t) => {
      const s = await withServer(t);
      const dir = await withTempDir(t);
      const path = join(dir, 'big.txt');
      await writeFile(path, exactText(13 * MiB, true, 5));
      const shape = await measureFile(path);
      const client = await LinedropClient.connect({ host: HOST, port: s.port });
      let changed = false;
      const failing = client.sendFile(path, {
        shape,
        onProgress: () => {
          if (changed) return;
          changed = true;
          appendFileSync(path, 'more\n');
        },
      });
      const after = client.sendLines(['after']);
      await assert.rejects(
        failing,
        isClientError('LINEDROP_ERR_FILE_CHANGED', /big\.txt changed while it was being sent/),
      );
      await assert.rejects(
        after,
        isClientError(
          'LINEDROP_ERR_CONNECTION_CLOSED',
          /^the connection was closed because message 1 failed after part of it was sent: .*big\.txt changed while it was being sent; part of it was sent, so the connection was closed$/,
        ),
      );
      await client.whenClosed();
      await s.server.idle();
      assert.deepEqual(await listDir(s.dir), []);
    },
  );
});
