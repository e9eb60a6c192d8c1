// Instance ids: servers sharing one upload folder (session layout) never write into the same
// session folder, and each cleans up only what its own sessions left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import { DirectoryStorage } from '../../src/index.js';
import { isTempName } from '../../src/storage/file-sink.js';
import { sessionInstance } from '../../src/storage/directory.js';
import { HOST, QUIT, ROOT, RawPeer, frame, freePort, removeDir, tempDir, until } from '../support.js';

const BIN = join(ROOT, 'bin/linedrop.js');
const conn = (id: number) => ({ id, remoteAddress: HOST, remotePort: 1 });

describe('instance ids', () => {
  test(
    'session folder names: <time>-<instance>-<counter>, unique across instances sharing a ' +
      'folder, the id read back exactly',
    async () => {
      const dir = await tempDir();
      try {
        // Ids that are prefixes or suffixes of each other, with dashes, must still never collide.
        const ids = ['a', 'b', 'a-b', 'b-000001', 'x.1'];
        const storages = ids.map((instanceId) => new DirectoryStorage({ dir, layout: 'session', instanceId }));
        const names = new Map<string, string>();
        // Many sessions per instance within the same milliseconds.
        for (let n = 1; n <= 2000; n++) {
          for (const storage of storages) {
            const name = basename(storage.openConnection(conn(n)).location);
            assert.equal(names.has(name), false, `${name} repeats`);
            names.set(name, storage.instanceId);
            assert.match(name, /^\d{8}T\d{9}Z-.+-\d{6,}$/);
          }
        }
        for (const [name, id] of names) assert.equal(sessionInstance(name), id, name);
        assert.equal(sessionInstance('not-a-session'), undefined);
        const random = new DirectoryStorage({ dir, layout: 'session' });
        assert.match(random.instanceId, /^[0-9a-f]{6}$/, 'the default: 6 random hex digits');
      } finally {
        await removeDir(dir);
      }
    },
  );

  test('a session folder that exists already is never written into: the file is refused', async () => {
    const dir = await tempDir();
    try {
      const storage = new DirectoryStorage({ dir, layout: 'session', instanceId: 'dup' });
      await storage.init();
      const store = storage.openConnection(conn(1));
      // As if a second server with the same id had made this very name first.
      await mkdir(store.location);
      await writeFile(join(store.location, '1.txt'), "the other server's file\n");
      await assert.rejects(store.create(1), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EEXIST');
        assert.match(err.message, /exists already: do two servers sharing .* have the same instance id\?/);
        return true;
      });
      assert.deepEqual(await readdir(store.location), ['1.txt']);
      // A fresh session still works.
      const next = storage.openConnection(conn(2));
      const sink = await next.create(1);
      sink.write(Buffer.from('mine\n'));
      assert.equal((await sink.commit()).bytes, 5);
    } finally {
      await removeDir(dir);
    }
  });

  test("start-up cleanup: with an instance id only its own sessions' left-overs go; without one, all", async () => {
    const dir = await tempDir();
    try {
      const temp = '.linedrop-1.txt.123.abcd.part';
      assert.equal(isTempName(temp), true);
      const folders = [
        '20260101T000000000Z-a-000001',
        '20260101T000000000Z-b-000001',
        '20260101T000000000Z-a-b-000002',
      ];
      for (const folder of folders) {
        await mkdir(join(dir, folder));
        await writeFile(join(dir, folder, temp), 'partial');
        await writeFile(join(dir, folder, '1.txt'), 'kept\n');
      }
      const left = async (): Promise<string[]> => {
        const out: string[] = [];
        for (const folder of folders) if ((await readdir(join(dir, folder))).includes(temp)) out.push(folder);
        return out;
      };
      assert.equal(await new DirectoryStorage({ dir, layout: 'session', instanceId: 'a' }).init(), 1);
      assert.deepEqual(
        await left(),
        [folders[1], folders[2]],
        "b's and a-b's temporary files may " + 'be uploads in progress',
      );
      assert.equal(await new DirectoryStorage({ dir, layout: 'session', instanceId: 'a-b' }).init(), 1);
      assert.deepEqual(await left(), [folders[1]]);
      assert.equal(
        await new DirectoryStorage({ dir, layout: 'session' }).init(),
        1,
        'a random id: the server is on its own',
      );
      assert.deepEqual(await left(), []);
      for (const folder of folders) assert.deepEqual(await readdir(join(dir, folder)), ['1.txt']);
    } finally {
      await removeDir(dir);
    }
  });

  test('receive --instance-id (and LINEDROP_INSTANCE_ID) names the session folders; a bad id is a usage error', async () => {
    const dir = await tempDir();
    try {
      for (const [args, env, id] of [
        [['--instance-id', 'node-7'], {}, 'node-7'],
        [[], { LINEDROP_INSTANCE_ID: 'from.env' }, 'from.env'],
      ] as const) {
        const port = await freePort();
        const child = spawn(
          process.execPath,
          [
            BIN,
            'receive',
            '--port',
            String(port),
            '--host',
            HOST,
            '--dir',
            dir,
            '--layout',
            'session',
            '--json',
            '--log-format',
            'json',
            ...args,
          ],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, ...env },
          },
        );
        let stdout = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        try {
          assert.equal(await until(() => stdout.includes('"listening"')), true);
          assert.equal((JSON.parse(stdout.split('\n')[0]!) as { instance: string }).instance, id);
          const peer = await RawPeer.connect(port);
          await peer.write(Buffer.concat([frame([id]), QUIT]));
          assert.equal(await peer.statuses(2), 'AQ');
          peer.destroy();
          assert.equal(
            await until(async () => (await readdir(dir)).some((name) => sessionInstance(name) === id)),
            true,
            `a folder named with ${id}`,
          );
          child.kill('SIGTERM');
          assert.equal((await once(child, 'close'))[0], 0);
        } finally {
          child.kill('SIGKILL');
        }
      }
      for (const bad of ['', 'has/slash', '-leading', 'spa ce', 'x'.repeat(65)]) {
        const child = spawn(process.execPath, [BIN, 'receive', '--instance-id', bad, '--dir', dir], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        assert.equal((await once(child, 'close'))[0], 2, JSON.stringify(bad));
        assert.match(stderr, /instance-id/);
      }
    } finally {
      await removeDir(dir);
    }
  });
});
