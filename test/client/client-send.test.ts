// The client's large-file path: measureFile against shapeOf, sendFile with a shape measured
// beforehand, and a shape that no longer matches the file.
import assert from 'node:assert/strict';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ClientError, LinedropClient, measureFile } from '../../src/index.js';
import { shapeOf } from '../../src/client/index.js';
import { HOST, removeDir, runServer, tempDir } from '../support.js';
import { text } from './texts.js';

describe('client: large files', () => {
  test('measureFile agrees with shapeOf across block boundaries, with and without a final newline', async () => {
    const dir = await tempDir();
    try {
      for (const [size, finalNewline] of [
        [10, true],
        [1024 * 1024 - 1, false],
        [1024 * 1024 + 5, true],
        [3 * 1024 * 1024 + 77, false],
        // Blocks of 4 MiB, read several at once and counted in any order.
        [4 * 1024 * 1024 - 1, true],
        [4 * 1024 * 1024, false],
        [4 * 1024 * 1024 + 1, true],
        [17 * 1024 * 1024 + 77, false],
      ] as const) {
        const body = text(size, finalNewline, size % 97);
        const path = join(dir, `f${size}.txt`);
        await writeFile(path, body);
        assert.deepEqual(await measureFile(path), shapeOf(body), `${size} bytes`);
      }
    } finally {
      await removeDir(dir);
    }
  });

  test('measureFile reports the first NUL byte, whichever block is counted first', async () => {
    const dir = await tempDir();
    try {
      const body = text(13 * 1024 * 1024, true, 11);
      const path = join(dir, 'nul.txt');
      for (const at of [[9 * 1024 * 1024 + 3], [12 * 1024 * 1024 + 1, 5 * 1024 * 1024], [4 * 1024 * 1024]]) {
        const copy = Buffer.from(body);
        for (const offset of at) copy[offset] = 0;
        await writeFile(path, copy);
        const shape = await measureFile(path);
        assert.equal(shape.firstNul, Math.min(...at));
        assert.deepEqual(shape, shapeOf(copy));
      }
    } finally {
      await removeDir(dir);
    }
  });

  test('measureFile when reads return less than asked before the end (as on some network and FUSE file systems)', async () => {
    const dir = await tempDir();
    // Every file handle's read, meanwhile, returns at most 100,000 bytes of what it is asked for.
    type Read = (
      buffer: Buffer,
      offset: number,
      length: number,
      position: number,
    ) => Promise<{ bytesRead: number; buffer: Buffer }>;
    const probe = await open(join(dir, 'probe'), 'w');
    const handles = Object.getPrototypeOf(probe) as { read: Read };
    await probe.close();
    const read = handles.read;
    try {
      const body = text(9 * 1024 * 1024 + 5, false, 13);
      const path = join(dir, 'short-reads.txt');
      await writeFile(path, body);
      handles.read = function (this: unknown, buffer, offset, length, position) {
        return read.call(this, buffer, offset, Math.min(length, 100_000), position);
      };
      const shape = await measureFile(path);
      handles.read = read;
      assert.deepEqual(shape, shapeOf(body));
    } finally {
      handles.read = read;
      await removeDir(dir);
    }
  });

  test('sendFile with the shape measured beforehand sends the file once, byte for byte', async () => {
    const s = await runServer();
    const dir = await tempDir();
    try {
      const body = text(5 * 1024 * 1024 + 3, false, 5);
      const path = join(dir, 'big.txt');
      await writeFile(path, body);
      const shape = await measureFile(path);
      const client = await LinedropClient.connect({ host: HOST, port: s.port });
      let progress = 0;
      assert.equal(await client.sendFile(path, { shape, onProgress: (n) => (progress = n) }), 'A');
      assert.equal(progress, body.length);
      assert.equal(await client.quit(), 'Q');
      assert.deepEqual(await readFile(join(s.dir, '1.txt')), Buffer.concat([body, Buffer.from('\n')]));
    } finally {
      await s.close();
      await removeDir(dir);
    }
  });

  test(
    'a shape that no longer matches the file: LINEDROP_ERR_FILE_CHANGED, the connection is ' +
      'closed, nothing is stored',
    async () => {
      const s = await runServer();
      const dir = await tempDir();
      try {
        const path = join(dir, 'big.txt');
        await writeFile(path, text(2 * 1024 * 1024, true, 3));
        const shape = await measureFile(path);
        const client = await LinedropClient.connect({ host: HOST, port: s.port });
        await assert.rejects(
          client.sendFile(path, { shape: { ...shape, lines: shape.lines + 1 } }),
          (e: unknown) => e instanceof ClientError && e.code === 'LINEDROP_ERR_FILE_CHANGED',
        );
        await client.whenClosed();
        await assert.rejects(
          client.sendLines(['after']),
          (e: unknown) => e instanceof ClientError && e.code === 'LINEDROP_ERR_CONNECTION_CLOSED',
        );
        await s.server.idle();
        await assert.rejects(readFile(join(s.dir, '1.txt')), { code: 'ENOENT' });
      } finally {
        await s.close();
        await removeDir(dir);
      }
    },
  );
});
