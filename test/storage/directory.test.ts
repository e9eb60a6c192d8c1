// DirectoryStorage under a real server, with its flushes slowed down or failing (fs-faults.ts):
// what a failed folder flush undoes, and what it must leave alone.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DirectoryStorage, startServer } from '../../src/index.js';
import { TEMP_PREFIX, TEMP_SUFFIX, isTempName } from '../../src/storage/file-sink.js';
import { HOST, QUIT, RawPeer, frame, listDir, removeDir, runServer, tempDir, until } from '../support.js';
import { Gate, fsError, withFailingHandles, withFlushFaults } from './fs-faults.js';

async function contentOf(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

/**
 * Upload X of 1.txt, then upload Y of 1.txt, each over its own connection; returns once both are renamed into place.
 */
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
  test(
    "upload X's flush fails after upload Y of the same 1.txt replaced it: Y (answered A) keeps " + '1.txt, X gets R',
    async () => {
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
    },
  );

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
      assert.equal(
        await contentOf(join(dir, '1.txt')),
        'the earlier 1.txt\n',
        'neither file answered R replaces the earlier one',
      );
      assert.deepEqual(await listDir(dir), ['1.txt'], 'no temporary file is left');
    } finally {
      gate.open();
      await s.close();
      await removeDir(dir);
    }
  });
});

describe('a full disk', () => {
  test(
    'once writing fails (ENOSPC), the server stops reading the message and answers R at once, ' +
      'not after the whole message',
    async (t) => {
      const dir = await tempDir();
      const s = await runServer({ dir });
      const LINE = Buffer.alloc(64 * 1024 - 1, 'x');
      const LINES = 4096; // a 256 MiB message
      try {
        const outcome = await withFailingHandles(
          (path, handle) => {
            if (!isTempName(path.split('/').pop()!)) return;
            // The disk fills up after the first write of the file.
            let writes = 0;
            const real = handle.writev.bind(handle);
            handle.writev = ((buffers: Buffer[]) =>
              ++writes === 1
                ? real(buffers)
                : Promise.reject(fsError('ENOSPC', 'no space left on device', 'write'))) as typeof handle.writev;
          },
          async () => {
            const peer = await RawPeer.connect(s.port);
            const started = performance.now();
            let sent = 4;
            await peer.write(frame([], LINES));
            for (let i = 0; i < LINES && peer.received.length === 0 && !peer.closed; i++) {
              // Write while the server reads; stop as soon as it has answered or stopped reading for good.
              const more = peer.socket.write(Buffer.concat([LINE, Buffer.from('\n')]));
              sent += LINE.length + 1;
              if (!more)
                await Promise.race([
                  new Promise((resolve) => peer.socket.once('drain', resolve)),
                  peer.statuses(1, 60_000),
                ]);
            }
            const status = await peer.statuses(1);
            const ms = Math.round(performance.now() - started);
            peer.destroy();
            return { status, sent, ms };
          },
        );
        const total = LINES * LINE.length + LINES + 4;
        t.diagnostic(
          `R after ${outcome.ms} ms, ${(outcome.sent / 2 ** 20).toFixed(1)} MiB of a ` +
            `${(total / 2 ** 20).toFixed(0)} MiB message sent`,
        );
        assert.equal(outcome.status, 'R');
        assert.ok(
          outcome.sent < total / 4,
          `R came after ${outcome.sent} of ${total} bytes: the server read on into a full disk`,
        );
        assert.deepEqual(await listDir(dir), [], 'nothing stored, no temporary file left');
      } finally {
        await s.close();
        await removeDir(dir);
      }
    },
  );
});

describe('session folders', () => {
  test(
    'a connection that stores nothing leaves no folder: refused files, a vanished client, a quit ' +
      'alone; one that stores a file keeps its folder',
    async () => {
      const dir = await tempDir();
      const s = await runServer({ dir, layout: 'session', limits: { maxLineBytes: 8 } });
      const ended = (n: number): Promise<void> =>
        new Promise((resolve) => {
          let left = n;
          s.server.on('connectionClosed', () => --left === 0 && resolve());
        });
      try {
        const all = ended(7);
        for (let i = 0; i < 5; i++) {
          const refused = await RawPeer.connect(s.port);
          await refused.write(frame(['a line longer than eight bytes']));
          assert.equal(await refused.statuses(1), 'R');
          refused.destroy();
        }
        const vanished = await RawPeer.connect(s.port);
        await vanished.write(frame(['half'], 2));
        await until(async () => (await listDir(dir)).length > 0);
        vanished.destroy();
        const kept = await RawPeer.connect(s.port);
        await kept.write(Buffer.concat([frame(['kept']), QUIT]));
        assert.equal(await kept.statuses(2), 'AQ');
        kept.destroy();
        await all;
        const folders = await listDir(dir);
        assert.equal(folders.length, 1, `only the connection that stored a file has a folder: ${folders.join(', ')}`);
        assert.deepEqual(await listDir(join(dir, folders[0]!)), ['1.txt']);
      } finally {
        await s.close();
        await removeDir(dir);
      }
    },
  );

  test(
    'start-up: session folders a crash left empty (or holding only a temporary file) are ' +
      'removed; one with a file stays',
    async () => {
      const dir = await tempDir();
      await mkdir(join(dir, '20261201T120000000Z-abc123-000001'));
      await mkdir(join(dir, '20261201T120000000Z-abc123-000002'));
      await writeFile(
        join(dir, '20261201T120000000Z-abc123-000002', `${TEMP_PREFIX}1.txt.1.aaaa${TEMP_SUFFIX}`),
        'partial',
      );
      await mkdir(join(dir, '20261201T120000000Z-abc123-000003'));
      await writeFile(join(dir, '20261201T120000000Z-abc123-000003', '1.txt'), 'kept\n');
      const storage = new DirectoryStorage({ dir, layout: 'session' });
      try {
        assert.equal(await storage.init(), 1, 'one temporary file removed');
        assert.deepEqual(await listDir(dir), ['20261201T120000000Z-abc123-000003']);
      } finally {
        await removeDir(dir);
      }
    },
  );
});

describe('start-up checks of the folder', () => {
  test('a folder that is missing is created; a probe file shows it can be written, and is removed', async () => {
    const parent = await tempDir();
    try {
      const storage = new DirectoryStorage({ dir: join(parent, 'new', 'uploads') });
      assert.equal(await storage.init(), 0);
      assert.deepEqual(await listDir(join(parent, 'new', 'uploads')), []);
    } finally {
      await removeDir(parent);
    }
  });

  test('a regular file where the folder should be: init rejects, saying so', async () => {
    const parent = await tempDir();
    try {
      await writeFile(join(parent, 'file'), 'x');
      await assert.rejects(new DirectoryStorage({ dir: join(parent, 'file') }).init(), {
        message:
          `the upload folder ${join(parent, 'file')} is a file, not a folder: name a folder ` +
          `(it is created if missing)`,
        code: 'EEXIST',
      });
      await assert.rejects(startServer({ dir: join(parent, 'file'), port: 0, host: HOST }), /is a file, not a folder/);
    } finally {
      await removeDir(parent);
    }
  });
});
