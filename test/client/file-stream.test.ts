// Files streamed from disk (`streamFile` in src/client/measure.ts): chunks of 4 MiB read ahead into reused
// buffers arrive byte for byte whatever falls on a chunk's edge, and a file that changes while it
// is being sent fails with LINEDROP_ERR_FILE_CHANGED before the server has a complete message of it.
import assert from 'node:assert/strict';
import { appendFileSync, truncateSync, writeSync, openSync, closeSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ClientError, LinedropClient, measureFile } from '../../src/index.js';
import { HOST, listDir, withServer, withTempDir } from '../support.js';
import { exactText } from './texts.js';

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;

/** Writes `bytes` over the file at `offset`, at once (before the client's next read of it). */
function overwrite(path: string, offset: number, bytes: string): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, offset);
  } finally {
    closeSync(fd);
  }
}

describe('client: files streamed from disk', () => {
  test(
    'sizes around the 4 MiB chunks, newlines on their edges, with and without a final newline: ' +
      'each stored byte for byte',
    async (t) => {
      const s = await withServer(t);
      const dir = await withTempDir(t);
      const files: { path: string; body: Buffer }[] = [];
      for (const [size, finalNewline, newlineAt] of [
        [CHUNK - 1, true, undefined],
        [CHUNK, true, undefined],
        [CHUNK, false, undefined],
        [CHUNK + 1, false, undefined],
        [CHUNK + 1, true, CHUNK - 1], // the first chunk ends with a newline
        [2 * CHUNK, false, CHUNK], // the second chunk starts with one
        [3 * CHUNK + 5, true, 2 * CHUNK - 1],
      ] as const) {
        const body = exactText(size, finalNewline, files.length + 3);
        if (newlineAt !== undefined) body[newlineAt] = 0x0a;
        const path = join(dir, `${files.length + 1}.txt`);
        await writeFile(path, body);
        files.push({ path, body });
      }
      const client = await LinedropClient.connect({ host: HOST, port: s.port });
      // All on one connection, without waiting for each answer: the buffers are reused from file to
      // file. (Measured first, so that each call queues its message at once, in order.)
      const shapes = await Promise.all(files.map(({ path }) => measureFile(path)));
      const progress = files.map(() => 0);
      const statuses = await Promise.all(
        files.map(({ path }, i) => client.sendFile(path, { shape: shapes[i], onProgress: (n) => (progress[i] = n) })),
      );
      assert.deepEqual(
        statuses,
        files.map(() => 'A'),
      );
      assert.equal(await client.quit(), 'Q');
      await client.whenClosed();
      assert.deepEqual(
        progress,
        files.map(({ body }) => body.length),
        'the progress ends at each file size',
      );
      for (const [i, { body }] of files.entries()) {
        const expected = body[body.length - 1] === 0x0a ? body : Buffer.concat([body, Buffer.from('\n')]);
        assert.ok(
          (await readFile(join(s.dir, `${i + 1}.txt`))).equals(expected),
          `file ${i + 1} (${body.length} bytes) stored byte for byte`,
        );
      }
    },
  );

  const changes: [string, boolean, (path: string, size: number) => void][] = [
    ['grows', true, (path) => appendFileSync(path, 'more\n')],
    ['shrinks', true, (path) => truncateSync(path, 9 * MiB)],
    ['loses a newline', true, (path, size) => overwrite(path, size - 1, 'x')],
    // Without a final newline, the extra one would let the server see a whole message before the end.
    ['gains a newline', false, (path, size) => overwrite(path, size - 100, '\n')],
  ];
  for (const [what, finalNewline, change] of changes) {
    test(
      `a file that ${what} while it is being sent: LINEDROP_ERR_FILE_CHANGED, the connection ` +
        `closed, nothing stored for it`,
      async (t) => {
        const s = await withServer(t);
        const dir = await withTempDir(t);
        const size = 13 * MiB + 7;
        const path = join(dir, 'changing.txt');
        await writeFile(path, exactText(size, finalNewline, 7));
        const client = await LinedropClient.connect({ host: HOST, port: s.port });
        assert.equal(await client.sendLines(['before']), 'A');
        let changed = false;
        const sending = client.sendFile(path, {
          // Once the first chunk is out (the second may be being read), the rest of the file changes.
          onProgress: () => {
            if (changed) return;
            changed = true;
            change(path, size);
          },
        });
        await assert.rejects(
          sending,
          (e: unknown) =>
            e instanceof ClientError &&
            e.code === 'LINEDROP_ERR_FILE_CHANGED' &&
            e.message.includes('changed while it was being sent'),
        );
        assert.ok(changed);
        await client.whenClosed();
        await s.server.idle();
        assert.deepEqual(await listDir(s.dir), ['1.txt']);
        assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'before\n');
      },
    );
  }
});
