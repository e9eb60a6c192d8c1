// DirectoryStorage under a real server, with its flushes slowed down or failing (fs-faults.ts):
// what a failed folder flush undoes, and what it must leave alone.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isTempName } from '../../src/index.js';
import { QUIT, RawPeer, frame, listDir, removeDir, runServer, tempDir, until } from '../support.js';
import { Gate, fsError, withFlushFaults } from './fs-faults.js';

async function contentOf(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

/** Upload X of 1.txt, then upload Y of 1.txt, each over its own connection; returns once both are renamed into place. */
async function placeXThenY(port: number, dir: string): Promise<{ x: RawPeer; y: RawPeer }> {
  const x = await RawPeer.connect(port);
  await x.write(frame(['X']));
  assert.ok(await until(async () => (await contentOf(join(dir, '1.txt'))) === 'X\n'), 'X is renamed into place');
  const y = await RawPeer.connect(port);
  await y.write(frame(['Y']));
  assert.ok(await until(async () => (await contentOf(join(dir, '1.txt'))) === 'Y\n'), 'Y is renamed into place');
  return { x, y };
}

describe('a failed folder flush (flat layout)', () => {
  test('upload X\'s flush fails after upload Y of the same 1.txt replaced it: Y (answered A) keeps 1.txt, X gets R', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, '1.txt'), 'the earlier 1.txt\n');
    const s = await runServer({ dir });
    const gate = new Gate();
    try {
      await withFlushFaults(
        s.server.storage.location,
        {
          // The first folder flush (X's) waits until Y is in place, then fails; the later ones work.
          folderSync: async (n, real) => {
            if (n > 1) return real();
            await gate.opened;
            throw fsError('EIO', 'i/o error', 'fsync');
          },
        },
        async () => {
          const { x, y } = await placeXThenY(s.port, dir);
          assert.equal(x.received.length + y.received.length, 0, 'no answer before the flush');
          gate.open();
          assert.equal(await x.statuses(1), 'R', 'X, whose flush failed, is answered R');
          assert.equal(await y.statuses(1), 'A', 'Y is answered A once a later flush covers its rename');
          x.destroy();
          await y.write(QUIT);
          assert.equal(await y.statuses(2), 'AQ');
          y.destroy();
        },
      );
      assert.equal(await contentOf(join(dir, '1.txt')), 'Y\n', 'the file answered A is the one kept');
      assert.deepEqual((await listDir(dir)).filter(isTempName), [], 'no temporary file is left');
    } finally {
      gate.open();
      await s.close();
      await removeDir(dir);
    }
  });

  test('both flushes fail: neither X nor Y is kept, the earlier 1.txt comes back', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, '1.txt'), 'the earlier 1.txt\n');
    const s = await runServer({ dir });
    const gate = new Gate();
    try {
      await withFlushFaults(
        s.server.storage.location,
        {
          folderSync: async (n) => {
            if (n === 1) await gate.opened;
            throw fsError('EIO', 'i/o error', 'fsync');
          },
        },
        async () => {
          const { x, y } = await placeXThenY(s.port, dir);
          gate.open();
          assert.equal(await x.statuses(1), 'R');
          assert.equal(await y.statuses(1), 'R');
          x.destroy();
          y.destroy();
        },
      );
      assert.equal(await contentOf(join(dir, '1.txt')), 'the earlier 1.txt\n', 'neither file answered R replaces the earlier one');
      assert.deepEqual(await listDir(dir), ['1.txt'], 'no temporary file is left');
    } finally {
      gate.open();
      await s.close();
      await removeDir(dir);
    }
  });
});
