// Storage that fails: injected faults through a Storage test double, the folder removed while
// the server runs, a read-only folder, and the CLI server's graceful shutdown (SIGTERM).
// In every case a file that was not stored is answered R (never A), nothing partial is left, the
// failure is reported with its cause, and the server keeps serving.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import {
  DirectoryStorage,
  type ConnectionInfo,
  type ConnectionStore,
  type ConnectionSummary,
  type FileSink,
  type Logger,
  type StoredFile,
  type Storage,
} from '../../src/index.js';
import { isTempName } from '../../src/storage/file-sink.js';
import { fsError, withFailingHandles, type FaultHandle } from './fs-faults.js';
import {
  HOST,
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
  within,
} from '../support.js';

// ---------------------------------------------------------------------------------------------
// Helpers

function body(lines: string[]): Buffer {
  return Buffer.concat(lines.map((l) => Buffer.from(`${l}\n`, 'utf8')));
}

/** The error and its chain of causes. */
function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && chain.length < 10; e = (e as { cause?: unknown }).cause)
    chain.push(e);
  return chain;
}

function codeIn(err: unknown, code: string): boolean {
  return causes(err).some((e) => (e as { code?: unknown }).code === code);
}

/** Every file under `dir`, as paths relative to it, sorted. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await visit(path);
      else out.push(relative(dir, path));
    }
  };
  await visit(dir);
  return out.sort();
}

function isTempPath(path: string): boolean {
  return isTempName(path.split('/').pop()!);
}

interface LogEntry {
  level: 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (fields: object, message: string): void => {
      entries.push({ level, fields: fields as Record<string, unknown>, message });
    };
  return { entries, info: at('info'), warn: at('warn'), error: at('error') };
}

// ---------------------------------------------------------------------------------------------
// The test double: a DirectoryStorage with a fault injected at one file index.

type FaultKind = 'create' | 'write-enospc' | 'commit-enospc' | 'rename';

interface Fault {
  /** Which file of a connection fails (`index.txt`). */
  index: number;
  kind: FaultKind;
}

class FaultyStorage implements Storage {
  readonly inner: DirectoryStorage;
  fault: Fault | undefined;
  /** The error each fault raised (for 'rename' the real one, recorded when the commit rejects). */
  readonly raised: unknown[] = [];
  /** Temporary files seen in the folder while a faulty file was open. */
  readonly tempsSeen: string[] = [];
  aborts = 0;

  constructor(readonly dir: string) {
    this.inner = new DirectoryStorage({ dir, layout: 'flat' });
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
      create: async (index: number): Promise<FileSink> => {
        const fault = this.fault && this.fault.index === index ? this.fault : undefined;
        if (fault?.kind === 'create') {
          const err = fsError('EMFILE', 'too many open files', 'open');
          this.raised.push(err);
          throw err;
        }
        const sink = await store.create(index);
        if (fault === undefined) return sink;
        // The temporary file is created in the background (the upload is read meanwhile): wait
        // for it; nothing is written to the sink or aborted before this returns.
        const temps = async (): Promise<string[]> => (await listDir(this.dir)).filter(isTempName);
        await until(async () => (await temps()).length > 0, 5_000);
        this.tempsSeen.push(...(await temps()));
        return this.wrap(sink, fault, index);
      },
    };
  }

  private wrap(sink: FileSink, fault: Fault, index: number): FileSink {
    return {
      write: (data: Buffer): boolean => {
        const more = sink.write(data);
        // Disk full: ask the caller to wait, then fail the wait.
        return fault.kind === 'write-enospc' ? false : more;
      },
      drained: (): Promise<void> => {
        if (fault.kind !== 'write-enospc') return sink.drained();
        const err = fsError('ENOSPC', 'no space left on device', 'write');
        this.raised.push(err);
        return Promise.reject(err);
      },
      commit: async (): Promise<StoredFile> => {
        if (fault.kind === 'commit-enospc') {
          // A commit that fails must leave nothing behind (FileSink's contract: abort is not called after it).
          await sink.abort();
          const err = fsError('ENOSPC', 'no space left on device', 'fdatasync');
          this.raised.push(err);
          throw err;
        }
        if (fault.kind === 'rename') {
          // A directory in the way: the real rename(2) in DirectoryStorage fails (EISDIR).
          const target = join(this.dir, `${index}.txt`);
          await mkdir(target);
          await writeFile(join(target, 'occupied'), 'x');
          try {
            return await sink.commit();
          } catch (err) {
            this.raised.push(err);
            throw err;
          }
        }
        return sink.commit();
      },
      abort: async (): Promise<void> => {
        this.aborts++;
        await sink.abort();
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// The CLI server as a child process

/** `linedrop ARGS` run to its end (as root: without capabilities, if asked), within 20 s. */
function runCli(args: string[], withoutPrivileges = false): { status: number | null; stderr: string } {
  const command = [process.execPath, join(ROOT, 'bin/linedrop.js'), ...args];
  if (withoutPrivileges && process.getuid?.() === 0)
    command.unshift('setpriv', '--bounding-set=-all', '--inh-caps=-all', '--');
  const run = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8', timeout: 20_000 });
  return { status: run.status, stderr: run.stderr };
}

/** Whether a new connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

// ---------------------------------------------------------------------------------------------
// 1. Injected storage failures

const CASES: { kind: FaultKind; code: string; what: string }[] = [
  { kind: 'create', code: 'EMFILE', what: 'create rejects' },
  { kind: 'write-enospc', code: 'ENOSPC', what: 'a write fails: disk full (drained rejects)' },
  { kind: 'commit-enospc', code: 'ENOSPC', what: 'commit fails: disk full' },
  { kind: 'rename', code: 'EISDIR', what: 'commit rejects after the rename fails' },
];

describe('injected storage failures (a Storage test double around DirectoryStorage)', () => {
  for (const { kind, code, what } of CASES) {
    test(`${what}: R, the connection closes, nothing partial, the error and its cause reported, the server serves on`, async () => {
      const dir = await tempDir();
      const storage = new FaultyStorage(dir);
      const logger = recordingLogger();
      const s = await runServer({ dir, storage, logger });
      try {
        storage.fault = { index: 2, kind };
        const closed = within(once(s.server, 'connectionClosed'), 10_000, 'connectionClosed');
        const peer = await RawPeer.connect(s.port);
        // Three messages and the quit in one write: the second fails; nothing after it is answered.
        await peer.write(Buffer.concat([frame(['kept']), frame(['doomed', 'file']), frame(['never read']), QUIT]));
        assert.equal(await peer.waitClosed(10_000), true, 'the server closes the connection');
        assert.equal(
          String.fromCharCode(...peer.received),
          'AR',
          'A for the first file, R for the failed one, nothing more',
        );
        peer.destroy();

        const [summary] = (await closed) as [ConnectionSummary];
        assert.equal(summary.reason, 'rejected');
        assert.equal(summary.files, 1);
        assert.ok(summary.error, 'summary.error is set');
        assert.ok(codeIn(summary.error, code), `summary.error carries the cause (${code}): ${String(summary.error)}`);
        assert.equal(storage.raised.length, 1, 'the fault fired once');
        assert.ok(
          causes(summary.error).includes(storage.raised[0]),
          'summary.error is the storage error, or has it as its cause',
        );
        const logged = logger.entries.find((e) => e.level === 'error' && /closed/.test(e.message));
        assert.ok(logged, `the failure is logged as an error: ${JSON.stringify(logger.entries)}`);
        assert.equal((logged.fields['error'] as { code?: unknown } | undefined)?.code, code, 'the log names the cause');

        if (kind !== 'create') assert.equal(storage.tempsSeen.length, 1, 'the failed file had a temporary file');
        if (kind === 'write-enospc') assert.equal(storage.aborts, 1, 'the server aborted the failed file');
        const names = await listDir(dir);
        assert.deepEqual(names.filter(isTempName), [], 'no temporary file remains');
        assert.deepEqual(names, kind === 'rename' ? ['1.txt', '2.txt'] : ['1.txt']);
        if (kind === 'rename') {
          assert.equal(
            (await stat(join(dir, '2.txt'))).isDirectory(),
            true,
            '2.txt is still only the directory in the way',
          );
          await rm(join(dir, '2.txt'), { recursive: true });
        }
        assert.deepEqual(await readFile(join(dir, '1.txt')), body(['kept']));

        // Storage works again: the server still serves.
        storage.fault = undefined;
        const again = await RawPeer.connect(s.port);
        await again.write(Buffer.concat([frame(['one']), frame(['two', 'lines']), QUIT]));
        assert.equal(await again.statuses(3), 'AAQ');
        assert.equal(await again.waitClosed(), true);
        again.destroy();
        assert.deepEqual(await listDir(dir), ['1.txt', '2.txt']);
        assert.deepEqual(await readFile(join(dir, '2.txt')), body(['two', 'lines']));
      } finally {
        await s.close();
        await removeDir(dir);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 1b. The real DirectoryStorage with its file-system calls failing
//
// The handles DirectoryStorage opens fail in one chosen call (see fs-faults.ts).

const FS_CASES: {
  what: string;
  code: string;
  patch: (dir: string) => (path: string, handle: FaultHandle) => void;
  todo?: string;
}[] = [
  {
    what: 'writing the temporary file fails: disk full (writev ENOSPC)',
    code: 'ENOSPC',
    patch: () => (path, handle) => {
      if (!isTempName(path.split('/').pop()!)) return;
      // A small file is written directly, a larger one through the thread pool: both fail.
      handle.writev = () => Promise.reject(fsError('ENOSPC', 'no space left on device', 'write'));
      handle.writevSync = () => {
        throw fsError('ENOSPC', 'no space left on device', 'write');
      };
    },
  },
  {
    what: "flushing the file's data fails (fdatasync EIO)",
    code: 'EIO',
    patch: () => (path, handle) => {
      if (isTempName(path.split('/').pop()!))
        handle.datasync = () => Promise.reject(fsError('EIO', 'i/o error', 'fdatasync'));
    },
  },
  {
    what: 'flushing the folder after the rename fails (fsync EIO)',
    code: 'EIO',
    patch: (dir) => (path, handle) => {
      if (path === dir) handle.sync = () => Promise.reject(fsError('EIO', 'i/o error', 'fsync'));
    },
  },
];

describe('the real DirectoryStorage with failing file-system calls', () => {
  for (const { what, code, patch, todo } of FS_CASES) {
    test(`${what}: R, the earlier 1.txt is kept, no temporary file, the cause reported`, {
      ...(todo ? { todo } : {}),
    }, async () => {
      const dir = await tempDir();
      const s = await runServer({ dir });
      try {
        const first = await RawPeer.connect(s.port);
        await first.write(Buffer.concat([frame(['the good 1.txt']), QUIT]));
        assert.equal(await first.statuses(2), 'AQ');
        assert.equal(await first.waitClosed(), true);
        first.destroy();

        const closed = within(once(s.server, 'connectionClosed'), 10_000, 'connectionClosed');
        const peer = await RawPeer.connect(s.port);
        const statuses = await withFailingHandles(patch(s.server.storage.location), async () => {
          await peer.write(Buffer.concat([frame(['the rejected 1.txt', 'must not appear']), QUIT]));
          assert.equal(await peer.waitClosed(10_000), true, 'the server closes the connection');
          return String.fromCharCode(...peer.received);
        });
        peer.destroy();
        const [summary] = (await closed) as [ConnectionSummary];
        assert.equal(statuses, 'R');
        assert.equal(summary.reason, 'rejected');
        assert.ok(codeIn(summary.error, code), `summary.error carries the cause (${code}): ${String(summary.error)}`);
        assert.deepEqual(await listDir(dir), ['1.txt'], 'no temporary file remains');
        assert.equal(
          await readFile(join(dir, '1.txt'), 'utf8'),
          'the good 1.txt\n',
          'the file answered R never replaces the earlier 1.txt',
        );

        const after = await RawPeer.connect(s.port);
        await after.write(Buffer.concat([frame(['works again']), QUIT]));
        assert.equal(await after.statuses(2), 'AQ');
        after.destroy();
        assert.deepEqual(await readFile(join(dir, '1.txt')), body(['works again']));
      } finally {
        await s.close();
        await removeDir(dir);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 2. The folder removed while the server runs

describe('the upload folder removed while the server runs', () => {
  test('flat layout: the folder is made again ("created if missing") and the next upload is stored and answered A', async () => {
    const dir = await tempDir();
    const s = await runServer({ dir });
    try {
      const first = await RawPeer.connect(s.port);
      await first.write(Buffer.concat([frame(['before']), QUIT]));
      assert.equal(await first.statuses(2), 'AQ');
      first.destroy();

      await rm(dir, { recursive: true, force: true });
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([frame(['after the folder went']), QUIT]));
      assert.equal(await peer.statuses(2), 'AQ');
      peer.destroy();
      assert.deepEqual(await listDir(dir), ['1.txt']);
      assert.deepEqual(await readFile(join(dir, '1.txt')), body(['after the folder went']));
    } finally {
      await s.close();
      await removeDir(dir);
    }
  });

  test('flat layout: a folder that cannot be made again (a file in its place) gets R, and the server keeps running', async () => {
    const dir = await tempDir();
    const s = await runServer({ dir });
    try {
      await rm(dir, { recursive: true, force: true });
      await writeFile(dir, 'a file where the folder was');
      const closed = within(once(s.server, 'connectionClosed'), 10_000, 'connectionClosed');
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([frame(['into the void']), QUIT]));
      assert.equal(await peer.waitClosed(), true);
      assert.equal(String.fromCharCode(...peer.received), 'R');
      peer.destroy();
      const [summary] = (await closed) as [ConnectionSummary];
      assert.equal(summary.reason, 'rejected');
      assert.ok(
        codeIn(summary.error, 'ENOTDIR') || codeIn(summary.error, 'EEXIST'),
        `the cause is reported: ${String(summary.error)}`,
      );

      assert.equal(s.server.listening, true);
      await rm(dir);
      const after = await RawPeer.connect(s.port);
      await after.write(Buffer.concat([frame(['after']), QUIT]));
      assert.equal(await after.statuses(2), 'AQ');
      after.destroy();
      assert.deepEqual(await readFile(join(dir, '1.txt')), body(['after']));
    } finally {
      await s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. A read-only folder

describe('a read-only upload folder', () => {
  test(
    'the CLI server (without privileges) will not start on a folder it cannot write: exit 3, the ' +
      'reason on stderr, nothing left in it',
    async () => {
      const parent = await tempDir();
      try {
        await chmod(parent, 0o755);
        const dir = join(parent, 'read-only');
        await mkdir(dir);
        await chmod(dir, 0o555);
        const run = runCli(['receive', '--port', '0', '--host', HOST, '--dir', dir], true);
        assert.equal(run.status, 3, run.stderr);
        assert.match(run.stderr, new RegExp(`^linedrop: cannot write into the upload folder ${dir}: EACCES`));
        assert.deepEqual(await listDir(dir), [], 'the probe file is not left behind');
      } finally {
        await chmod(join(parent, 'read-only'), 0o755).catch(() => undefined);
        await removeDir(parent);
      }
    },
  );

  test('--dir naming a regular file, or a path through one: exit 3, saying so', async () => {
    const parent = await tempDir();
    try {
      const file = join(parent, 'a-file');
      await writeFile(file, 'not a folder\n');
      const named = runCli(['receive', '--port', '0', '--host', HOST, '--dir', file]);
      assert.equal(named.status, 3, named.stderr);
      assert.equal(
        named.stderr,
        `linedrop: the upload folder ${file} is a file, not a folder: name a folder (it is created if missing)\n`,
      );
      const through = runCli(['receive', '--port', '0', '--host', HOST, '--dir', join(file, 'sub')]);
      assert.equal(through.status, 3, through.stderr);
      assert.equal(
        through.stderr,
        `linedrop: cannot create the upload folder ${join(file, 'sub')}: ` +
          `a part of that path is a file, not a folder\n`,
      );
      assert.equal(await readFile(file, 'utf8'), 'not a folder\n');
    } finally {
      await removeDir(parent);
    }
  });

  test(
    'the folder made read-only while the CLI server (without privileges) runs: R, no file, the ' +
      'error logged with its cause (EACCES), the server keeps running',
    async () => {
      const parent = await tempDir();
      let server: ServerProcess | undefined;
      try {
        // As root, permissions do not stop writes: the server runs without capabilities (setpriv).
        await chmod(parent, 0o755);
        const dir = join(parent, 'read-only');
        await mkdir(dir);
        server = await ServerProcess.start(dir, [], true);
        await chmod(dir, 0o555);

        const peer = await RawPeer.connect(server.port);
        await peer.write(Buffer.concat([frame(['not allowed', 'here']), QUIT]));
        assert.equal(await peer.waitClosed(), true, 'the server closes the connection');
        assert.equal(String.fromCharCode(...peer.received), 'R');
        peer.destroy();
        assert.deepEqual(await listDir(dir), [], 'no file, no temporary file');

        const logged = await until(
          () => server!.logs().some((e) => (e['error'] as { code?: unknown } | undefined)?.code === 'EACCES'),
          5_000,
        );
        assert.ok(logged, `the log names EACCES:\n${server.text()}`);
        const entry = server.logs().find((e) => (e['error'] as { code?: unknown } | undefined)?.code === 'EACCES')!;
        assert.equal(entry['level'], 50, 'logged at level error');
        assert.match(String(entry['msg']), /rejected.*EACCES|EACCES.*rejected/);

        // Still running.
        assert.equal(server.running, true);
        const quitter = await RawPeer.connect(server.port);
        await quitter.write(QUIT);
        assert.equal(await quitter.statuses(1), 'Q');
        quitter.destroy();
        const again = await RawPeer.connect(server.port);
        await again.write(Buffer.concat([frame(['still not']), QUIT]));
        assert.equal(await again.waitClosed(), true);
        assert.equal(String.fromCharCode(...again.received), 'R');
        again.destroy();
        assert.deepEqual(await listDir(dir), []);

        server.signal('SIGTERM');
        assert.equal((await within(server.exited, 10_000, 'the server to stop')).code, 0);
      } finally {
        await server?.stop();
        await chmod(join(parent, 'read-only'), 0o755).catch(() => undefined);
        await removeDir(parent);
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------
// 4. Shutdown: SIGTERM during uploads

/** The count of a message and its first lines, without the rest. */
function partial(lines: string[], sent: number): Buffer {
  const whole = frame(lines);
  return whole.subarray(0, 4 + body(lines.slice(0, sent)).length);
}

async function tempsUnder(dir: string): Promise<string[]> {
  return (await walk(dir)).filter(isTempPath);
}

describe('the CLI server: SIGTERM (and SIGHUP) during uploads', () => {
  // SIGHUP too: the terminal that started the server closing must not cut uploads off.
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    test(
      `${signal}: a message in progress finishes within the deadline and is answered A; an idle ` +
        `connection is closed at once; exit 0`,
      async () => {
        const dir = await tempDir();
        let server: ServerProcess | undefined;
        const peers: RawPeer[] = [];
        try {
          server = await ServerProcess.start(dir, ['--layout', 'session', '--shutdown-deadline', '5']);
          // Between messages: one file answered, then nothing.
          const idle = await RawPeer.connect(server.port);
          peers.push(idle);
          await idle.write(frame(['idle after this']));
          assert.equal(await idle.statuses(1), 'A');
          // Connected, nothing sent yet.
          const fresh = await RawPeer.connect(server.port);
          peers.push(fresh);
          // Mid-message: two of three lines sent.
          const lines = ['in progress', 'when the signal came', 'and finished'];
          const busy = await RawPeer.connect(server.port);
          peers.push(busy);
          await busy.write(partial(lines, 2));
          assert.equal(
            await until(async () => (await tempsUnder(dir)).length === 1),
            true,
            'the message in progress has its temporary file',
          );
          assert.equal(await until(() => server!.opened() === 3), true, 'the server has all three connections');

          const signalled = performance.now();
          server.signal(signal);
          assert.equal(await idle.waitClosed(3_000), true, 'the idle connection is closed at once');
          assert.equal(await fresh.waitClosed(3_000), true, 'the connection that sent nothing is closed at once');
          assert.equal(String.fromCharCode(...idle.received), 'A', 'no status after the A');
          assert.equal(String.fromCharCode(...fresh.received), '');
          assert.equal(await refused(server.port), true, 'no new connections');
          assert.equal(busy.closed, false, 'the message in progress is not cut off');

          await busy.write(body(lines.slice(2)));
          assert.equal(await busy.statuses(1, 4_000), 'A', 'the message finished within the deadline is answered A');
          assert.equal(await busy.waitClosed(3_000), true, 'then that connection is closed');
          const { code } = await within(server.exited, 8_000, 'the server to exit');
          const took = performance.now() - signalled;
          assert.equal(code, 0);
          assert.ok(
            took < 4_500,
            `the server exits once the last message is done, not at the deadline (${Math.round(took)} ms)`,
          );

          const files = await walk(dir);
          assert.deepEqual(files.filter(isTempPath), [], 'no temporary files');
          assert.equal(files.length, 2, `two files: ${files.join(', ')}`);
          assert.ok(files.every((f) => f.endsWith('/1.txt')));
          const contents = (await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')))).sort();
          assert.deepEqual(contents, [body(lines).toString(), body(['idle after this']).toString()].sort());
          assert.match(server.text(), new RegExp(`${signal}: stopping`));
        } finally {
          for (const p of peers) p.destroy();
          await server?.stop();
          await removeDir(dir);
        }
      },
    );
  }

  test('a message still incomplete at the deadline is cut off and its temporary file removed; exit 0', async () => {
    const dir = await tempDir();
    let server: ServerProcess | undefined;
    let peer: RawPeer | undefined;
    try {
      server = await ServerProcess.start(dir, ['--shutdown-deadline', '1']);
      peer = await RawPeer.connect(server.port);
      await peer.write(frame(['kept', 'intact']));
      assert.equal(await peer.statuses(1), 'A');
      await peer.write(partial(['never', 'finished', 'at all'], 1));
      assert.equal(
        await until(async () => (await listDir(dir)).some((n) => n.startsWith('.linedrop-2.txt.'))),
        true,
        'the second file has started',
      );

      const signalled = performance.now();
      server.signal('SIGTERM');
      const { code } = await within(server.exited, 8_000, 'the server to exit');
      const took = performance.now() - signalled;
      assert.equal(code, 0);
      assert.ok(took >= 900, `the message had until the deadline (${Math.round(took)} ms)`);
      assert.ok(took < 4_000, `cut off at the deadline (${Math.round(took)} ms)`);
      assert.equal(await peer.waitClosed(3_000), true, 'the stalled client is cut off');
      assert.ok(
        ['A', 'AR'].includes(String.fromCharCode(...peer.received)),
        `no A for the cut-off message: ${String.fromCharCode(...peer.received)}`,
      );
      assert.deepEqual(await listDir(dir), ['1.txt'], 'no 2.txt, no temporary file');
      assert.deepEqual(await readFile(join(dir, '1.txt')), body(['kept', 'intact']));
    } finally {
      peer?.destroy();
      await server?.stop();
      await removeDir(dir);
    }
  });

  test('a second SIGTERM stops at once, even with a client stalled mid-message and a long deadline', async () => {
    const dir = await tempDir();
    let server: ServerProcess | undefined;
    let peer: RawPeer | undefined;
    try {
      server = await ServerProcess.start(dir, ['--shutdown-deadline', '60']);
      peer = await RawPeer.connect(server.port);
      await peer.write(frame(['kept']));
      assert.equal(await peer.statuses(1), 'A');
      await peer.write(partial(['stalled', 'here'], 1));
      assert.equal(
        await until(async () => (await listDir(dir)).some((n) => n.startsWith('.linedrop-2.txt.'))),
        true,
        'the second file has started',
      );

      server.signal('SIGTERM');
      await sleep(700);
      assert.equal(server.running, true, 'after one SIGTERM the server waits for the message in progress');
      assert.equal(peer.closed, false);
      const again = performance.now();
      server.signal('SIGTERM');
      const { code } = await within(server.exited, 5_000, 'the server to exit after the second SIGTERM');
      const took = performance.now() - again;
      assert.equal(code, 0);
      assert.ok(took < 3_000, `the second signal stops at once (${Math.round(took)} ms)`);
      assert.equal(await peer.waitClosed(3_000), true);
      assert.equal(String.fromCharCode(...peer.received).replace('R', ''), 'A', 'no A for the cut-off message');
      assert.deepEqual(await listDir(dir), ['1.txt'], 'no 2.txt, no temporary file');
      assert.deepEqual(await readFile(join(dir, '1.txt')), body(['kept']));
      assert.match(server.text(), /SIGTERM again: stopping now/);
    } finally {
      peer?.destroy();
      await server?.stop();
      await removeDir(dir);
    }
  });
});
