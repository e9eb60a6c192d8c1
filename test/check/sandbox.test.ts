// The sandbox's pieces that need no bubblewrap: the words for a limit reached (from what servers
// print), the bwrap command line's shape, and the seam the engine offers (ServerProcess's `wrap`,
// given each start's number). The sandbox itself is tested in test/system/sandbox.test.ts.
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { ServerProcess } from '../../src/check/restart.js';
import { main } from '../../src/cli/main.js';
import { freePort, removeDir, tempDir } from '../support.js';
import {
  DEFAULT_LIMITS,
  KILLED_NOTE,
  limitsReached,
  mayHide,
  sandboxArgv,
  type SandboxSpec,
} from '../../src/check/sandbox/index.js';

describe('the words for a limit reached', () => {
  const cases: [string, string[]][] = [
    [
      'Traceback (most recent call last):\n  File "s.py", line 3, in <module>\nMemoryError\n',
      ['stopped at the 512 MiB memory limit'],
    ],
    [
      "fork failed after 61 children: BlockingIOError(11, 'Resource temporarily unavailable')\n",
      ['could not start a process: limit 64'],
    ],
    ['BlockingIOError: [Errno 11] Resource temporarily unavailable\n', ['could not start a process: limit 64']],
    [
      'Exception in thread "main" java.lang.OutOfMemoryError: unable to create native thread\n',
      ['stopped at the 512 MiB memory limit', 'could not start a process: limit 64'],
    ],
    ['OSError: [Errno 27] File too large\n', ['stopped at the 64 MiB file size limit']],
    [`Listening on port 12100\n${KILLED_NOTE} SIGXFSZ\n`, ['stopped at the 64 MiB file size limit']],
    [`${KILLED_NOTE} SIGXCPU\n`, ['stopped at the 60 s CPU time limit']],
    ["OSError: [Errno 24] Too many open files: 'k.txt'\n", ['could not open a file: limit 256 open files']],
    ["terminate called after throwing an instance of 'std::bad_alloc'\n", ['stopped at the 512 MiB memory limit']],
    [
      'Select "(1-TS) tcpsend", or "(2-TR) tcpreceive":Listening on port 12100\nConnection from ' +
        "('127.0.0.1', 40000)\n",
      [],
    ],
  ];
  for (const [output, words] of cases) {
    test(JSON.stringify(output.slice(0, 60)), () => assert.deepEqual(limitsReached(output, DEFAULT_LIMITS), words));
  }
  test('the limits given are the ones named', () => {
    assert.deepEqual(
      limitsReached('MemoryError\nBlockingIOError: [Errno 11] Resource temporarily unavailable\n', {
        ...DEFAULT_LIMITS,
        memoryBytes: 1536 * 1024 * 1024,
        pids: 8,
      }),
      ['stopped at the 1.5 GiB memory limit', 'could not start a process: limit 8'],
    );
  });
});

describe('the bwrap command line', () => {
  const spec: SandboxSpec = {
    kind: 'bwrap',
    bwrap: '/usr/bin/bwrap',
    writable: ['/tmp/out/alice/work'],
    writableFiles: ['/tmp/out/alice/server.log'],
    hidden: ['/tmp', '/proc/self', '/proc'],
    limits: DEFAULT_LIMITS,
    log: '/tmp/out/alice/server.log',
  };
  const argv = sandboxArgv(spec, ['sh', '-c', 'python3 alice.py']);
  const at = (...words: string[]): number => argv.findIndex((_, i) => words.every((w, j) => argv[i + j] === w));

  test('its own namespaces but the network, no capabilities, no further user namespaces, dies with the checker', () => {
    assert.equal(argv[0], '/usr/bin/bwrap');
    for (const flag of [
      '--unshare-user',
      '--disable-userns',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--die-with-parent',
      '--new-session',
    ]) {
      assert.ok(argv.includes(flag), flag);
    }
    assert.ok(at('--cap-drop', 'ALL') > 0);
    assert.ok(
      !argv.includes('--unshare-net'),
      "the network namespace is grade's (its loopback), so " + 'the checker reaches the server',
    );
  });

  test(
    'the system read-only, /home and /root hidden read-only after the binds, /tmp private, the ' +
      'working folder and log writable',
    () => {
      const ro = at('--ro-bind', '/', '/');
      const tmp = at('--tmpfs', '/tmp');
      const home = at('--tmpfs', '/home');
      const bind = at('--bind', '/tmp/out/alice/work', '/tmp/out/alice/work');
      const log = at('--bind', '/tmp/out/alice/server.log', '/tmp/out/alice/server.log');
      const remount = at('--remount-ro', '/home');
      assert.ok(ro > 0 && tmp > ro && home > tmp && bind > home && log > bind && remount > log, argv.join(' '));
      assert.equal(argv[tmp - 2], '--size');
      assert.ok(
        at('--tmpfs', '/proc') < 0,
        '/proc is mounted, never hidden: a hidden folder that holds the system is left out',
      );
      assert.ok(at('--remount-ro', '/tmp') < 0, 'the private /tmp stays writable');
      assert.ok(at('--chdir', '/tmp/out/alice/work') > 0);
    },
  );

  test('the limits set inside the sandbox, then the server under a shell that notes its death by a signal', () => {
    const p = argv.indexOf('prlimit');
    assert.ok(p > argv.indexOf('--'), 'rlimits set inside the user namespace');
    assert.deepEqual(argv.slice(p + 1, p + 8), [
      '--nproc=64',
      `--data=${512 * 1024 * 1024}`,
      `--fsize=${64 * 1024 * 1024}`,
      '--nofile=256',
      '--cpu=60:61',
      '--core=0',
      '--',
    ]);
    assert.deepEqual(argv.slice(-3), ['sh', '-c', 'python3 alice.py']);
    assert.ok(argv.includes('LINEDROP_LOG=/tmp/out/alice/server.log'));
  });

  test('what may be hidden: never the system, a folder that holds it, nor anything in /proc, /dev, /sys', () => {
    for (const p of ['/', '/usr', '/var', '/etc', '/proc/self', '/dev/shm', '/sys/fs'])
      assert.equal(mayHide(p), false, p);
    for (const p of ['/home', '/root', '/var/grades', '/usr/lib/node_modules/linedrop', '/srv/class', '/data'])
      assert.equal(mayHide(p), true, p);
  });

  test('as root, the sandbox runs as nobody', () => {
    const root = sandboxArgv({ ...spec, user: { uid: 65534, gid: 65534 } }, ['true']);
    assert.deepEqual(root.slice(0, 6), [
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      '--',
      '/usr/bin/bwrap',
    ]);
  });
});

describe("ServerProcess's wrap", () => {
  test('every start is spawned through wrap(argv, start), starts counted from 1; without wrap the argv as it is', async () => {
    const seen: [string[], number][] = [];
    const proc = new ServerProcess('echo "start $START"', {
      wrap: (argv, start) => {
        seen.push([argv, start]);
        return ['env', `START=${start}`, ...argv];
      },
    });
    for (const n of [1, 2]) {
      await proc.start();
      assert.ok(await proc.waitGone(5000));
      await proc.exitText(2000);
      assert.equal(proc.lastLines(1), `start ${n}`);
    }
    await proc.stop();
    assert.deepEqual(seen, [
      [['sh', '-c', 'echo "start $START"'], 1],
      [['sh', '-c', 'echo "start $START"'], 2],
    ]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell's parameter expansion, not a template
    const plain = new ServerProcess('echo "plain ${START:-none}"');
    await plain.start();
    assert.ok(await plain.waitGone(5000));
    await plain.exitText(2000);
    assert.equal(plain.lastLines(1), 'plain none');
    await plain.stop();
  });
});

describe('no sandbox can be made', () => {
  /**
   * Runs the command line with a PATH that has no bwrap (nor anything else); resolves with the exit status and standard
   * error.
   */
  async function withoutBwrap(args: string[]): Promise<{ code: number; stderr: string }> {
    const empty = await tempDir('linedrop-no-bwrap-');
    const path = process.env['PATH'];
    process.env['PATH'] = empty;
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (c: Buffer) => (text += c.toString()));
    try {
      const code = await main(args, { stdin: new PassThrough(), stdout: new PassThrough(), stderr });
      return { code, stderr: text };
    } finally {
      process.env['PATH'] = path;
      await removeDir(empty);
    }
  }

  test('grade refuses with the reason and the fix (exit 3), and writes nothing', {
    skip: process.platform !== 'linux' && 'Linux only',
  }, async () => {
    const cls = await tempDir('linedrop-class-');
    try {
      await writeFile(join(cls, 'alice.py'), 'print("never run")\n');
      const out = join(cls, 'grades');
      const { code, stderr } = await withoutBwrap(['grade', cls, '--cmd', 'python3 {file}', '--out', out]);
      assert.equal(code, 3, stderr);
      assert.match(
        stderr,
        /^linedrop grade: no sandbox can be made: bubblewrap \(bwrap\) is not installed; install bubblewrap \(Debian, Ubuntu: apt-get install bubblewrap/,
      );
      assert.match(stderr, /or give --sandbox none to run the submissions unconfined/);
      assert.deepEqual(await readdir(cls), ['alice.py']);
    } finally {
      await removeDir(cls);
    }
  });

  test('check --restart-cmd --sandbox bwrap refuses the same way; without --sandbox it needs none', {
    skip: process.platform !== 'linux' && 'Linux only',
  }, async () => {
    const port = await freePort();
    const refused = await withoutBwrap([
      'check',
      `127.0.0.1:${port}`,
      '--restart-cmd',
      'true',
      '--sandbox',
      'bwrap',
      '--quick',
    ]);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /^linedrop check: no sandbox can be made: bubblewrap \(bwrap\) is not installed/);
  });
});
