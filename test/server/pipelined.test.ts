// Pipelined commits over one connection: while message k is flushed and renamed, message k+1 is
// already read and written; renames stay in message order; one folder flush serves every rename
// made before it began; the A's go out in order, each after its own file is stored; a failure of
// message k is answered R and nothing after it is answered or stored. The real DirectoryStorage
// runs, its file-system calls observed (and held or failed) through test/storage/fs-faults.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import {
  DirectoryStorage,
  startServer,
  type ConnectionInfo,
  type ConnectionStore,
  type FileSink,
  type Storage,
  type StoredFile,
} from '../../src/index.js';
import { isTempName } from '../../src/storage/file-sink.js';
import { withFailingHandles } from '../storage/fs-faults.js';
import {
  QUIT,
  ROOT,
  RawPeer,
  ServerProcess,
  frame,
  listDir,
  removeDir,
  runServer,
  sleep,
  tempDir,
  until,
} from '../support.js';

interface Hooks {
  /** Before the data flush of a temporary file (its final name given: `2.txt`). */
  datasync?: (name: string) => Promise<void> | void;
  /** Before a flush of the folder. */
  dirsync?: () => Promise<void> | void;
}

/** Logs the file-system calls DirectoryStorage makes while `run` runs, in order: `rename 2.txt`, `dirsync`, ... */
function watched<T>(log: string[], hooks: Hooks, run: () => Promise<T>): Promise<T> {
  return withFailingHandles(
    (path, handle) => {
      const name = basename(path);
      if (isTempName(name)) {
        const target = /^\.linedrop-(\d+\.txt)\./.exec(name)?.[1] ?? name;
        const datasync = handle.datasync.bind(handle);
        handle.datasync = async () => {
          await hooks.datasync?.(target);
          await datasync();
          log.push(`datasync ${target}`);
        };
      } else {
        const sync = handle.sync.bind(handle);
        handle.sync = async () => {
          log.push('dirsync');
          await hooks.dirsync?.();
          await sync();
        };
      }
    },
    run,
    (_from, to) => {
      if (!isTempName(basename(to))) log.push(`rename ${basename(to)}`);
    },
  );
}

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

function ioError(syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EIO: i/o error, ${syscall} (injected)`), { code: 'EIO', syscall });
}

const FILES = [['one'], ['two', 'lines'], ['three'], ['four', '', 'with an empty line']];
const STREAM = Buffer.concat([...FILES.map((f) => frame(f)), QUIT]);

function body(lines: string[]): string {
  return lines.map((l) => `${l}\n`).join('');
}

/**
 * After a failure of message 2 over a folder holding an earlier connection's `old k` files: no
 * temporary file is left, 1.txt is the new message 1, and 2.txt to 4.txt are the earlier ones.
 */
async function assertOnlyFirstStored(dir: string): Promise<void> {
  await until(async () => (await listDir(dir)).filter(isTempName).length === 0, 5_000);
  assert.deepEqual(await listDir(dir), ['1.txt', '2.txt', '3.txt', '4.txt'], 'no temporary file is left');
  assert.equal(await readFile(join(dir, '1.txt'), 'utf8'), body(FILES[0]!));
  for (let i = 2; i <= 4; i++)
    assert.equal(await readFile(join(dir, `${i}.txt`), 'utf8'), `old ${i}\n`, `${i}.txt is the earlier one`);
}

describe('pipelined commits over one connection (DirectoryStorage)', () => {
  test(
    'while message 1 waits for its folder flush, messages 2 and 3 are read, written, flushed and ' +
      'renamed; one folder flush then serves both; A A A in order',
    async () => {
      const s = await runServer();
      const held = gate();
      let flushes = 0;
      const log: string[] = [];
      try {
        await watched(
          log,
          {
            dirsync: async () => {
              if (++flushes === 1) await held.opened;
            },
          },
          async () => {
            const peer = await RawPeer.connect(s.port);
            await peer.write(Buffer.concat(FILES.slice(0, 3).map((f) => frame(f))));
            // The first folder flush is held: with one message at a time nothing more would happen.
            assert.equal(
              await until(() => log.includes('rename 3.txt'), 5_000),
              true,
              `messages 2 and 3 are renamed while 1's folder flush runs: ${log.join(', ')}`,
            );
            await sleep(50);
            assert.equal(peer.received.length, 0, 'no answer before the first folder flush ends');
            assert.deepEqual(
              log.filter((l) => l.startsWith('rename')),
              ['rename 1.txt', 'rename 2.txt', 'rename 3.txt'],
              'renames in message order',
            );
            held.open();
            assert.equal(await peer.statuses(3), 'AAA');
            assert.equal(
              log.filter((l) => l === 'dirsync').length,
              2,
              `one more folder flush for 2 and 3: ${log.join(', ')}`,
            );
            await peer.write(QUIT);
            assert.equal(await peer.statuses(4), 'AAAQ');
            peer.destroy();
          },
        );
        for (let i = 0; i < 3; i++) assert.equal(await readFile(join(s.dir, `${i + 1}.txt`), 'utf8'), body(FILES[i]!));
      } finally {
        held.open();
        await s.close();
      }
    },
  );

  test(
    "a file is renamed only after the one before it: 1's data flush held, 2 and 3 wait with " +
      'their data flushed; no A until 1 is stored',
    async () => {
      const s = await runServer();
      const held = gate();
      const log: string[] = [];
      try {
        await watched(log, { datasync: (name) => (name === '1.txt' ? held.opened : undefined) }, async () => {
          const peer = await RawPeer.connect(s.port);
          await peer.write(Buffer.concat(FILES.slice(0, 3).map((f) => frame(f))));
          assert.equal(
            await until(() => log.includes('datasync 3.txt'), 5_000),
            true,
            `3's data is flushed meanwhile: ${log.join(', ')}`,
          );
          await sleep(50);
          assert.deepEqual(
            log.filter((l) => l.startsWith('rename')),
            [],
            'nothing renamed before 1.txt',
          );
          assert.deepEqual(
            (await listDir(s.dir)).filter((n) => !isTempName(n)),
            [],
          );
          assert.equal(peer.received.length, 0);
          held.open();
          assert.equal(await peer.statuses(3), 'AAA');
          assert.deepEqual(
            log.filter((l) => l.startsWith('rename')),
            ['rename 1.txt', 'rename 2.txt', 'rename 3.txt'],
          );
          peer.destroy();
        });
      } finally {
        held.open();
        await s.close();
      }
    },
  );

  test(
    'the data flush of message 2 fails while 3 and 4 are in flight: A then R, the connection ' +
      'closes, no 2, 3 or 4 stored, the earlier files they would replace kept',
    async () => {
      const s = await runServer();
      try {
        // An earlier connection's files (flat layout: the next connection would overwrite them).
        for (let i = 1; i <= 4; i++) await writeFile(join(s.dir, `${i}.txt`), `old ${i}\n`);
        const log: string[] = [];
        await watched(
          log,
          {
            datasync: async (name) => {
              if (name !== '2.txt') return;
              // Fail once message 3 is written and flushed (in flight behind 2).
              await until(() => log.includes('datasync 3.txt'), 5_000);
              throw ioError('fdatasync');
            },
          },
          async () => {
            const peer = await RawPeer.connect(s.port);
            await peer.write(STREAM);
            assert.equal(await peer.waitClosed(10_000), true, 'the server closes the connection');
            assert.equal(String.fromCharCode(...peer.received), 'AR');
            peer.destroy();
            assert.ok(log.includes('datasync 3.txt'), `3 was in flight when 2 failed: ${log.join(', ')}`);
          },
        );
        await assertOnlyFirstStored(s.dir);
      } finally {
        await s.close();
      }
    },
  );

  test(
    'the folder flush for message 2 fails after 3 was renamed (and flushed by the next folder ' +
      'flush): R for 2, and 3 is taken back out',
    async () => {
      const s = await runServer();
      try {
        for (let i = 1; i <= 4; i++) await writeFile(join(s.dir, `${i}.txt`), `old ${i}\n`);
        let failed = false;
        let peer: RawPeer | undefined;
        const log: string[] = [];
        await watched(
          log,
          {
            // 2 is renamed only once 1 is answered, so the folder flush covering 2 does not cover 1.
            datasync: async (name) => {
              if (name === '2.txt') await until(() => (peer?.received.length ?? 0) >= 1, 5_000);
            },
            dirsync: async () => {
              // The flush that covers the new 2.txt: hold it until 3.txt is renamed, then fail it.
              if (failed || !(await readFile(join(s.dir, '2.txt'), 'utf8')).startsWith('two')) return;
              failed = true;
              await until(async () => (await readFile(join(s.dir, '3.txt'), 'utf8')) === body(FILES[2]!), 5_000);
              throw ioError('fsync');
            },
          },
          async () => {
            peer = await RawPeer.connect(s.port);
            await peer.write(STREAM);
            assert.equal(await peer.waitClosed(10_000), true, 'the server closes the connection');
            assert.equal(String.fromCharCode(...peer.received), 'AR');
            peer.destroy();
            assert.ok(failed, 'the folder flush for 2 was failed');
            const renamed = log.filter((l) => l.startsWith('rename'));
            assert.ok(
              renamed.includes('rename 3.txt'),
              `3 was renamed before 2's failure was known: ${log.join(', ')}`,
            );
          },
        );
        await assertOnlyFirstStored(s.dir);
      } finally {
        await s.close();
      }
    },
  );

  test('a malformed message after two good ones in flight: A A, then R; the good ones stored', async () => {
    const s = await runServer({ limits: { maxLineBytes: 8 } });
    try {
      const peer = await RawPeer.connect(s.port);
      await peer.write(
        Buffer.concat([frame(['good']), frame(['fine']), frame(['far too long a line']), frame(['never'])]),
      );
      assert.equal(await peer.waitClosed(10_000), true);
      assert.equal(String.fromCharCode(...peer.received), 'AAR');
      peer.destroy();
      assert.deepEqual(await listDir(s.dir), ['1.txt', '2.txt']);
    } finally {
      await s.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The connection's side, with a storage double whose commits the test resolves by hand.

class HeldStorage implements Storage {
  readonly inner: DirectoryStorage;
  readonly creates: number[] = [];
  /** Commits that finished in the real storage and wait for the test: index -> release. */
  readonly waiting = new Map<number, () => void>();

  constructor(dir: string) {
    this.inner = new DirectoryStorage({ dir });
  }

  get location(): string {
    return this.inner.location;
  }

  init(): Promise<number> {
    return this.inner.init();
  }

  openConnection(info: ConnectionInfo): ConnectionStore {
    const store = this.inner.openConnection(info);
    return {
      location: store.location,
      orderedCommits: store.orderedCommits,
      create: async (index: number): Promise<FileSink> => {
        this.creates.push(index);
        const sink = await store.create(index);
        return {
          write: (data) => sink.write(data),
          drained: () => sink.drained(),
          abort: () => sink.abort(),
          commit: async (): Promise<StoredFile> => {
            const file = await sink.commit();
            await new Promise<void>((resolve) => this.waiting.set(index, resolve));
            return file;
          },
        };
      },
    };
  }

  release(index: number): boolean {
    const release = this.waiting.get(index);
    release?.();
    return release !== undefined;
  }
}

describe('pipelined commits: the connection', () => {
  test('message 2 stored before message 1: no answer until 1 is, then A A in order', async () => {
    const dir = await tempDir();
    const storage = new HeldStorage(dir);
    const s = await runServer({ dir, storage });
    try {
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([frame(['first']), frame(['second']), QUIT]));
      assert.equal(await until(() => storage.waiting.has(1) && storage.waiting.has(2)), true, 'both files stored');
      storage.release(2);
      await sleep(100);
      assert.equal(peer.received.length, 0, 'no A for 2 before 1 is answered');
      storage.release(1);
      assert.equal(await peer.statuses(3), 'AAQ');
      peer.destroy();
    } finally {
      await s.close();
      await removeDir(dir);
    }
  });

  test('maxInFlight bounds the messages being committed: with 2, the third is not read until the first is answered', async () => {
    const dir = await tempDir();
    const storage = new HeldStorage(dir);
    const s = await runServer({ dir, storage, maxInFlight: 2 });
    try {
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([...Array.from({ length: 10 }, (_, i) => frame([`file ${i + 1}`])), QUIT]));
      assert.equal(await until(() => storage.waiting.size === 2), true);
      await sleep(150);
      assert.deepEqual(storage.creates, [1, 2], 'two messages in flight, the third not started');
      for (let i = 1; i <= 10; i++) {
        assert.equal(await until(() => storage.release(i)), true, `commit ${i} reached`);
        assert.ok(
          storage.creates.length <= i + 2,
          `at most two in flight after ${i} answered: ${storage.creates.length} started`,
        );
      }
      assert.equal(await peer.statuses(11), 'AAAAAAAAAAQ');
      peer.destroy();
      assert.equal((await listDir(dir)).length, 10);
    } finally {
      await s.close();
      await removeDir(dir);
    }
  });

  test(
    'the bytes in flight are bounded too: 1 MiB messages held in their commits stop the reading ' +
      'at 16 MiB, whatever maxInFlight allows',
    async () => {
      const dir = await tempDir();
      const storage = new HeldStorage(dir);
      const s = await runServer({ dir, storage, maxInFlight: 64 });
      const MESSAGES = 30;
      const message = frame(
        Array.from({ length: 16 }, (_, i) => `${String(i).padStart(4, '0')}${'m'.repeat(64 * 1024 - 5)}`),
      ); // 16 lines, 1 MiB
      try {
        const peer = await RawPeer.connect(s.port);
        // Not awaited: the server stops reading, and TCP holds the rest back.
        for (let i = 0; i < MESSAGES; i++) peer.socket.write(message);
        peer.socket.write(QUIT);
        assert.equal(
          await until(() => storage.waiting.size >= 16),
          true,
          `16 commits reached: ${storage.waiting.size}`,
        );
        await sleep(300);
        const started = storage.creates.length;
        assert.ok(
          started >= 16 && started <= 18,
          `about 16 MiB of messages read, not more: ${started} of ${MESSAGES} started`,
        );
        for (let i = 1; i <= MESSAGES; i++)
          assert.equal(await until(() => storage.release(i)), true, `commit ${i} reached`);
        assert.equal(await peer.statuses(MESSAGES + 1, 30_000), `${'A'.repeat(MESSAGES)}Q`);
        peer.destroy();
        assert.equal((await listDir(dir)).length, MESSAGES);
      } finally {
        await s.close();
        await removeDir(dir);
      }
    },
  );

  test(
    'receive --max-in-flight: 1 stores and answers one message at a time; 0 is a usage error ' +
      '(exit 2, nothing started)',
    async () => {
      const dir = await tempDir();
      let server: ServerProcess | undefined;
      try {
        const bad = spawnSync(
          process.execPath,
          [join(ROOT, 'bin/linedrop.js'), 'receive', '--port', '0', '--dir', dir, '--max-in-flight', '0'],
          {
            encoding: 'utf8',
          },
        );
        assert.equal(bad.status, 2, bad.stderr);
        assert.match(bad.stderr, /--max-in-flight/);
        server = await ServerProcess.start(dir, ['--max-in-flight', '1']);
        const peer = await RawPeer.connect(server.port);
        await peer.write(STREAM);
        assert.equal(await peer.statuses(5), 'AAAAQ');
        peer.destroy();
        for (let i = 0; i < FILES.length; i++)
          assert.equal(await readFile(join(dir, `${i + 1}.txt`), 'utf8'), body(FILES[i]!));
      } finally {
        await server?.stop();
        await removeDir(dir);
      }
    },
  );

  test('maxInFlight must be a whole number from 1 to 1024, as --max-in-flight', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 1025]) {
      await assert.rejects(startServer({ port: 0, host: '127.0.0.1', maxInFlight: bad }), {
        name: 'RangeError',
        code: 'LINEDROP_ERR_OUT_OF_RANGE',
        message: `maxInFlight: expected a whole number from 1 to 1024, not ${bad}`,
      });
    }
  });
});
