// Group commit in DirectoryStorage: concurrent uploads share the folder flush, and still no commit
// (so no `A`) comes before the file's data, its rename and a folder flush begun after that rename
// are on disk. The file-system calls are observed through test/storage/fs-faults.ts (which wraps
// `node:fs` in the ES module bindings), so the real storage runs unchanged.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { DirectoryStorage, LinedropClient, type FileEvent } from '../../src/index.js';
import { isTempName } from '../../src/storage/file-sink.js';
import { HOST, listDir, removeDir, runServer, tempDir } from '../support.js';
import { withFailingHandles } from '../storage/fs-faults.js';

type Step =
  | { kind: 'datasync'; temp: string }
  | { kind: 'rename'; temp: string; target: string }
  | { kind: 'dirsync-start'; dir: string; id: number }
  | { kind: 'dirsync-done'; dir: string; id: number }
  | { kind: 'commit'; target: string };

/**
 * Records, in order, every completed `fdatasync` of a temporary file, every completed rename, and
 * the start and end of every folder `fsync`, while `run` runs.
 */
async function observed<T>(
  run: (log: Step[]) => Promise<T>,
  faults: { dirsync?: (dir: string) => Error | undefined; datasync?: (temp: string) => Error | undefined } = {},
): Promise<{ result: T; log: Step[] }> {
  const log: Step[] = [];
  let syncs = 0;
  const result = await withFailingHandles(
    (path, handle) => {
      if (isTempName(basename(path))) {
        const datasync = handle.datasync.bind(handle);
        handle.datasync = async () => {
          const fault = faults.datasync?.(path);
          if (fault) throw fault;
          await datasync();
          log.push({ kind: 'datasync', temp: path });
        };
      } else {
        const sync = handle.sync.bind(handle);
        handle.sync = async () => {
          const id = ++syncs;
          log.push({ kind: 'dirsync-start', dir: path, id });
          const fault = faults.dirsync?.(path);
          if (fault) throw fault;
          await sync();
          log.push({ kind: 'dirsync-done', dir: path, id });
        };
      }
    },
    () => run(log),
    (from, to) => log.push({ kind: 'rename', temp: from, target: to }),
  );
  return { result, log };
}

/**
 * For every commit in the log: its file's data was flushed, then it was renamed into place, then a
 * flush of its folder started and finished, all before the commit resolved.
 */
function assertDurableBeforeCommit(log: Step[]): void {
  const commits = log.flatMap((s, at) => (s.kind === 'commit' ? [{ target: s.target, at }] : []));
  assert.ok(commits.length > 0, 'some commit was observed');
  for (const { target, at } of commits) {
    // This commit's rename: the last rename into the target before the commit.
    let renameAt = -1;
    for (let i = at - 1; i >= 0; i--) {
      const s = log[i]!;
      if (s.kind === 'rename' && s.target === target) {
        renameAt = i;
        break;
      }
    }
    assert.ok(renameAt >= 0, `${target}: renamed before its commit resolved`);
    const { temp } = log[renameAt] as { temp: string };
    const dataAt = log.findIndex((s) => s.kind === 'datasync' && s.temp === temp);
    assert.ok(dataAt >= 0 && dataAt < renameAt, `${target}: its data was flushed before the rename`);
    const folder = dirname(target);
    const flushed = log.some(
      (s, i) =>
        s.kind === 'dirsync-start' &&
        s.dir === folder &&
        i > renameAt &&
        log.findIndex((d, j) => j < at && d.kind === 'dirsync-done' && d.id === s.id) !== -1,
    );
    assert.ok(
      flushed,
      `${target}: a flush of its folder started after the rename and ended before the commit resolved`,
    );
  }
}

function content(c: number, k: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < 1 + ((c * 7 + k) % 13); i++)
    lines.push(`client ${c} file ${k} line ${i} ${'x'.repeat((c + k + i) % 50)}`);
  return Buffer.from(`${lines.join('\n')}\n`);
}

describe('group commit (DirectoryStorage)', () => {
  test(
    '64 concurrent commits into one folder: each resolves only after its data, its rename and a ' +
      'later folder flush; the folder flush is shared',
    async () => {
      const dir = await tempDir();
      try {
        const storage = new DirectoryStorage({ dir });
        assert.equal(storage.groupCommit, true, 'group commit is the default');
        await storage.init();
        const { result, log } = await observed(async (log) => {
          const store = storage.openConnection({ id: 1, remoteAddress: HOST, remotePort: 1 });
          return Promise.all(
            Array.from({ length: 64 }, async (_, i) => {
              const sink = await store.create(i + 1);
              sink.write(content(1, i + 1));
              const file = await sink.commit();
              log.push({ kind: 'commit', target: file.location });
              // At the moment the commit resolves, the file is in place, byte for byte.
              assert.ok(existsSync(file.location), `${file.name} exists when its commit resolves`);
              assert.deepEqual(readFileSync(file.location), content(1, i + 1));
              return file;
            }),
          );
        });
        assert.equal(result.length, 64);
        assertDurableBeforeCommit(log);
        const flushes = log.filter((s) => s.kind === 'dirsync-start').length;
        assert.ok(flushes < 64, `64 files shared ${flushes} folder flushes`);
        assert.deepEqual((await listDir(dir)).filter(isTempName), [], 'no temporary file is left');
      } finally {
        await removeDir(dir);
      }
    },
  );

  test('groupCommit: false flushes the folder once per file, with the same guarantees', async () => {
    const dir = await tempDir();
    try {
      const storage = new DirectoryStorage({ dir, groupCommit: false });
      await storage.init();
      const { log } = await observed(async (log) => {
        const store = storage.openConnection({ id: 1, remoteAddress: HOST, remotePort: 1 });
        await Promise.all(
          Array.from({ length: 16 }, async (_, i) => {
            const sink = await store.create(i + 1);
            sink.write(content(2, i + 1));
            const file = await sink.commit();
            log.push({ kind: 'commit', target: file.location });
          }),
        );
      });
      assertDurableBeforeCommit(log);
      assert.equal(log.filter((s) => s.kind === 'dirsync-start').length, 16);
    } finally {
      await removeDir(dir);
    }
  });

  test(
    'a failed folder flush rejects the files waiting on it; a failed data flush rejects only its ' +
      'file; later commits work',
    async () => {
      const dir = await tempDir();
      try {
        const storage = new DirectoryStorage({ dir });
        await storage.init();
        const store = storage.openConnection({ id: 1, remoteAddress: HOST, remotePort: 1 });
        let failFolder = true;
        const results = await observed(
          async () =>
            Promise.allSettled(
              Array.from({ length: 8 }, async (_, i) => {
                const sink = await store.create(i + 1);
                sink.write(content(3, i + 1));
                return sink.commit();
              }),
            ),
          {
            dirsync: () =>
              failFolder ? Object.assign(new Error('EIO: i/o error, fsync (injected)'), { code: 'EIO' }) : undefined,
            datasync: (temp) =>
              basename(temp).startsWith('.linedrop-3.txt.')
                ? Object.assign(new Error('EIO (injected)'), { code: 'EIO' })
                : undefined,
          },
        );
        for (const r of results.result)
          assert.equal(r.status, 'rejected', 'no commit resolves when its folder flush fails');
        assert.deepEqual((await listDir(dir)).filter(isTempName), [], 'no temporary file is left');
        failFolder = false;
        // A new connection (a connection's files after a failed one are never stored: it closes).
        const next = storage.openConnection({ id: 2, remoteAddress: HOST, remotePort: 2 });
        const again = await observed(async () => {
          const sink = await next.create(9);
          sink.write(content(3, 9));
          return sink.commit();
        });
        assert.deepEqual(readFileSync(again.result.location), content(3, 9));
      } finally {
        await removeDir(dir);
      }
    },
  );
});

describe('write-behind of large files (DirectoryStorage)', () => {
  /** Writes `mib` MiB through a sink, waiting whenever it asks, and commits. */
  async function upload(storage: DirectoryStorage, mib: number): Promise<{ location: string; block: Buffer }> {
    const store = storage.openConnection({ id: 1, remoteAddress: HOST, remotePort: 1 });
    const sink = await store.create(1);
    const block = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < block.length; i++) block[i] = i % 100 === 99 ? 0x0a : 0x61 + (i % 26);
    try {
      for (let i = 0; i < mib; i++) {
        // A fresh buffer per write, as a socket gives: the sink keeps what it is handed until written.
        if (!sink.write(Buffer.from(block))) await sink.drained();
      }
    } catch (err) {
      await sink.abort();
      throw err;
    }
    return { location: (await sink.commit()).location, block };
  }

  test('a 96 MiB file is flushed in the background as it arrives, then once more before its commit; byte-exact', async () => {
    const dir = await tempDir();
    try {
      const storage = new DirectoryStorage({ dir });
      await storage.init();
      const { result, log } = await observed(() => upload(storage, 96));
      const data = readFileSync(result.location);
      assert.equal(data.length, 96 * 1024 * 1024);
      for (let i = 0; i < 96; i++)
        assert.ok(data.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024).equals(result.block), `MiB ${i}`);
      const flushes = log.filter((s) => s.kind === 'datasync').length;
      assert.ok(flushes >= 2, `${flushes} data flushes: at least one in the background and the last one`);
      const renameAt = log.findIndex((s) => s.kind === 'rename');
      assert.equal(log[renameAt - 1]?.kind, 'datasync', 'the last data flush comes right before the rename');
    } finally {
      await removeDir(dir);
    }
  });

  test('a background flush that fails fails the file: no k.txt, no temporary file', async () => {
    const dir = await tempDir();
    try {
      const storage = new DirectoryStorage({ dir });
      await storage.init();
      let calls = 0;
      await assert.rejects(
        observed(() => upload(storage, 80), {
          datasync: () => (++calls === 1 ? Object.assign(new Error('EIO (injected)'), { code: 'EIO' }) : undefined),
        }),
        { code: 'EIO' },
      );
      assert.equal(calls, 1, 'the first (background) flush failed, and nothing was flushed after it');
      assert.deepEqual(await listDir(dir), []);
    } finally {
      await removeDir(dir);
    }
  });
});

describe('group commit through the server', () => {
  test(
    '48 clients at once, 10 files each (session layout): every file present, byte-exact; every A ' +
      'comes after the file is in place',
    async () => {
      const dir = await tempDir();
      const s = await runServer({ dir, layout: 'session', maxConnectionsPerAddress: 100 });
      try {
        // What each file held when its commit resolved (the server sends A right after).
        const stored = new Map<string, string>();
        s.server.on('file', (event: FileEvent) =>
          stored.set(readFileSync(event.file.location).toString('latin1'), event.file.location),
        );
        const { log } = await observed(async (log) => {
          s.server.on('file', (event: FileEvent) => log.push({ kind: 'commit', target: event.file.location }));
          await Promise.all(
            Array.from({ length: 48 }, async (_, c) => {
              const client = await LinedropClient.connect({ host: HOST, port: s.port });
              const statuses = await Promise.all(
                Array.from({ length: 10 }, async (_, k) => {
                  const status = await client.sendBuffer(content(c, k + 1));
                  // The A has arrived: the file must be in place already.
                  const location = stored.get(content(c, k + 1).toString('latin1'));
                  assert.ok(
                    location !== undefined && location.endsWith(`/${k + 1}.txt`),
                    `client ${c} file ${k + 1} is stored when its A arrives`,
                  );
                  assert.deepEqual(readFileSync(location), content(c, k + 1));
                  return status;
                }),
              );
              assert.deepEqual(statuses, Array(10).fill('A'));
              assert.equal(await client.quit(), 'Q');
            }),
          );
        });
        assertDurableBeforeCommit(log);
        const sessions = await listDir(dir);
        assert.equal(sessions.length, 48, 'one folder per connection');
        const seen = new Set<number>();
        for (const session of sessions) {
          const files = (await listDir(join(dir, session))).sort((a, b) => parseInt(a) - parseInt(b));
          assert.deepEqual(
            files,
            Array.from({ length: 10 }, (_, k) => `${k + 1}.txt`),
            `${session} holds 1.txt to 10.txt and nothing else`,
          );
          const first = readFileSync(join(dir, session, '1.txt')).toString();
          const c = Number(/^client (\d+) /.exec(first)?.[1]);
          assert.ok(!seen.has(c), `client ${c} has one folder`);
          seen.add(c);
          for (let k = 1; k <= 10; k++)
            assert.deepEqual(readFileSync(join(dir, session, `${k}.txt`)), content(c, k), `${session}/${k}.txt`);
        }
        assert.equal(seen.size, 48);
      } finally {
        await s.close();
      }
    },
  );

  test('flat layout, 32 clients at once: each A finds its k.txt in place, whole; no temporary file is left', async () => {
    const dir = await tempDir();
    const s = await runServer({ dir, maxConnectionsPerAddress: 100 });
    try {
      await Promise.all(
        Array.from({ length: 32 }, async (_, c) => {
          const client = await LinedropClient.connect({ host: HOST, port: s.port });
          for (let k = 1; k <= 5; k++) {
            assert.equal(await client.sendBuffer(content(c, k)), 'A');
            const now = readFileSync(join(dir, `${k}.txt`));
            // Another client may have replaced it since, but only with a whole file of its own.
            assert.ok(
              Array.from({ length: 32 }, (_, o) => content(o, k)).some((b) => b.equals(now)),
              `${k}.txt is one client's whole file when client ${c}'s A arrives`,
            );
          }
          assert.equal(await client.quit(), 'Q');
        }),
      );
      assert.deepEqual(await listDir(dir), ['1.txt', '2.txt', '3.txt', '4.txt', '5.txt']);
    } finally {
      await s.close();
    }
  });
});
