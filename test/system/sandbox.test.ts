// `linedrop grade` with its sandbox (bubblewrap) on a class of hostile lab servers beside a correct
// one: each hostile one first misbehaves (writes outside its folder, reads the home and lists the
// class, forks thousands of processes, allocates 4 GiB, writes a 2 GiB file, leaves a daemon,
// connects out, kills every process it can), then serves as the lab's server does. Each is
// contained (the files it aimed at do not exist, the secret planted in the home is not read, no
// process is left, the host's listener gets no connection) and reported (the limit it reached in
// words), and the correct one passes. As root, and as nobody (the command copied to a folder
// nobody can read).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmod, chown, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { GradedSubmission } from '../../src/check/grade/types.js';
import { labServer } from '../check/grade-fixtures/class.js';
import { ROOT } from '../support.js';

const hasBwrap = (() => {
  try {
    execFileSync('bwrap', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const isRoot = process.getuid?.() === 0;

/** The hostile part of each submission, run before it serves (Python; `P` holds the test's paths). */
function hostile(p: {
  home: string;
  cls: string;
  out: string;
  nonce: string;
  hostPort: number;
}): Record<string, string> {
  const P = `P = ${JSON.stringify(p)}\n`;
  return {
    snoop: `${P}
for target in [P['home'] + '/pwned', '/tmp/pwned-' + P['nonce'], '/var/tmp/pwned-' + P['nonce'], P['out'] + '/pwned', P['out'] + '/alice/work/pwned', P['cls'] + '/pwned']:
    try:
        open(target, 'w').write('pwned')
        print('WROTE', target, flush=True)
    except OSError as e:
        print('cannot write', target, e.strerror, flush=True)
try:
    print('SECRET', open(P['home'] + '/secret.txt').read(), flush=True)
except OSError as e:
    print('cannot read the home:', e.strerror, flush=True)
try:
    print('CLASS', os.listdir(P['cls']), flush=True)
except OSError as e:
    print('cannot list the class:', e.strerror, flush=True)
`,
    forker: `import time
children = 0
try:
    for i in range(3000):
        if os.fork() == 0:
            time.sleep(2)
            os._exit(0)
        children += 1
except OSError as e:
    print('fork failed after', children, 'children:', repr(e), flush=True)
`,
    hog: `try:
    hog = bytearray(4 << 30)
    print('ALLOCATED 4 GiB', flush=True)
except MemoryError:
    print('MemoryError', flush=True)
`,
    bigfile: `os.mkfifo('a-pipe') if not os.path.exists('a-pipe') else None
try:
    with open('big.bin', 'wb') as f:
        chunk = b'x' * (1 << 20)
        for i in range(2048):
            f.write(chunk)
    print('WROTE 2 GiB', flush=True)
except OSError as e:
    print(repr(e), flush=True)
`,
    daemon: `if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        import time
        os.chdir('/')
        time.sleep(600)
    os._exit(0)
`,
    netout: `import socket
for addr in [('10.255.255.1', 80), ('127.0.0.1', P['hostPort'])]:
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(addr)
        print('CONNECTED', addr, flush=True)
    except OSError as e:
        print('cannot connect to', addr, repr(e), flush=True)
    s.close()
`.replace(/^/, P),
    // It says so before it calls kill(-1): after the call its shell is gone, and the sandbox's
    // first process ends the namespace (and it) as soon as it sees that, before a later print.
    killer: `import signal
print('killing what it can', flush=True)
os.kill(-1, signal.SIGKILL)
`,
  };
}

/** Writes the class: alice (correct) and each hostile one, its code run right after `import os`. */
async function writeClass(dir: string, code: Record<string, string>): Promise<void> {
  await writeFile(join(dir, 'alice.py'), await labServer());
  const source = await labServer();
  for (const [name, text] of Object.entries(code)) {
    await writeFile(
      join(dir, `${name}.py`),
      source.replace(/^import os\n/m, `import os\n${text.replace(/^P = .*\n/m, (l) => l)}\n`),
    );
  }
}

/** Runs `linedrop grade` (the command in `bin`) as `user`; resolves with the exit status and its output. */
function grade(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  asNobody: boolean,
): Promise<{ code: number | null; out: string }> {
  const argv = asNobody
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, bin, ...args]
    : [process.execPath, bin, ...args];
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('close', (code) => resolve({ code, out }));
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Processes whose command line holds `text` (a server or a daemon grade should have stopped). */
async function running(text: string): Promise<string[]> {
  const left: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    try {
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
      if (args.includes(text)) left.push(`${pid} ${args}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return left;
}

async function gradeHostileClass(asNobody: boolean): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'linedrop-sandbox-test-'));
  await chmod(base, 0o755);
  const nonce = Math.random().toString(16).slice(2);
  const home = join(base, 'home');
  const cls = join(base, 'class');
  const out = join(base, 'grades');
  const app = join(base, 'linedrop');
  // The host's own listener on 127.0.0.1: no submission may reach it.
  let hostConnections = 0;
  const host = createServer((s) => {
    hostConnections++;
    s.destroy();
  });
  await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
  try {
    await mkdir(home);
    await writeFile(join(home, 'secret.txt'), `the teacher's secret ${nonce}\n`);
    await mkdir(cls);
    await writeClass(cls, hostile({ home, cls, out, nonce, hostPort: (host.address() as AddressInfo).port }));
    // The command, where nobody can read it.
    await mkdir(app);
    for (const part of ['bin', 'dist/cli', 'package.json'])
      await cp(join(ROOT, part), join(app, part), { recursive: true });
    if (asNobody) {
      execFileSync('chmod', ['-R', 'a+rX', base]);
      execFileSync('chown', ['-R', '65534:65534', home, cls]);
      await mkdir(out);
      await chown(out, 65534, 65534);
    }
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8' };
    const args = [
      'grade',
      cls,
      '--cmd',
      "printf '2\\n' | exec python3 {file}",
      '--out',
      out,
      '--quick',
      '--jobs',
      '2',
      '--time-limit',
      '60s',
    ];
    const { code, out: printed } = await grade(join(app, 'bin/linedrop.js'), args, env, asNobody);
    assert.equal(code, 0, printed);
    assert.match(printed, /Each server runs in a bubblewrap sandbox/);
    const subs = new Map<string, GradedSubmission>();
    for (const name of ['alice', 'snoop', 'forker', 'hog', 'bigfile', 'daemon', 'netout', 'killer']) {
      subs.set(name, JSON.parse(await readFile(join(out, name, 'report.json'), 'utf8')) as GradedSubmission);
    }
    const log = async (name: string): Promise<string> => readFile(join(out, name, 'server.log'), 'utf8');
    const detail = [...subs.values()].map((s) => `${s.name}: ${s.verdict} ${s.problem ?? ''}`).join('\n');
    // The correct one passes, in the sandbox, with no limit reached.
    assert.equal(subs.get('alice')!.verdict, 'pass', detail);
    assert.equal(subs.get('alice')!.sandbox, 'bwrap');
    assert.deepEqual(subs.get('alice')!.limits, []);
    // Every hostile one is graded: none stopped the checker.
    for (const s of subs.values()) assert.notEqual(s.verdict, 'error', detail);

    // Writes outside its folder, reads the home, lists the class: nothing of it.
    for (const target of [
      join(home, 'pwned'),
      `/tmp/pwned-${nonce}`,
      `/var/tmp/pwned-${nonce}`,
      join(out, 'pwned'),
      join(out, 'alice/work/pwned'),
      join(cls, 'pwned'),
    ]) {
      assert.equal(await exists(target), false, `${target} must not exist`);
    }
    const snoop = await log('snoop');
    // Its /tmp and /var/tmp are private (writable, gone with it); nothing else took a write.
    assert.ok(!/WROTE (?!\/tmp\/|\/var\/tmp\/)/.test(snoop), snoop);
    assert.ok(!snoop.includes(`secret ${nonce}`), snoop);
    assert.match(snoop, /cannot read the home/);
    assert.ok(!/CLASS .*alice/.test(snoop), snoop);

    // Thousands of processes: stopped at the limit, and said so.
    assert.match(await log('forker'), /fork failed after \d+ children/);
    assert.ok(subs.get('forker')!.limits!.includes('could not start a process: limit 64'), detail);
    assert.match(subs.get('forker')!.problem!, /could not start a process: limit 64/);
    // 4 GiB: refused at the memory limit.
    assert.match(await log('hog'), /MemoryError/);
    assert.ok(subs.get('hog')!.limits!.includes('stopped at the 512 MiB memory limit'), detail);
    // A 2 GiB file: stopped at 64 MiB.
    assert.match(await log('bigfile'), /File too large/);
    assert.ok((await stat(join(out, 'bigfile/work/big.bin'))).size <= 64 * 1024 * 1024);
    assert.ok(!subs.get('bigfile')!.problem!.includes('could not be copied'), detail);
    assert.ok(subs.get('bigfile')!.limits!.includes('stopped at the 64 MiB file size limit'), detail);
    // Connecting out: no route, and the host's loopback is not its own.
    const netout = await log('netout');
    assert.match(netout, /cannot connect to \('10\.255\.255\.1', 80\) .*(Network is unreachable|ENETUNREACH)/);
    assert.match(netout, /cannot connect to \('127\.0\.0\.1', \d+\) .*ConnectionRefused/);
    assert.equal(hostConnections, 0);
    // kill(-1): it killed its own server's processes (its server may not start), never the checker,
    // which reported it, nor the submission graded beside it.
    assert.match(await log('killer'), /killing what it can/);
    assert.ok(subs.get('killer')!.report !== null, detail);
    for (const name of ['forker', 'hog', 'bigfile', 'daemon', 'netout']) {
      assert.ok(['pass', 'fail'].includes(subs.get(name)!.verdict), detail);
    }
    // Nothing left running: no daemon, no server.
    assert.deepEqual(await running(cls), []);
    assert.deepEqual(await running(out), []);
    // The class page and each report say which sandbox was used.
    assert.match(await readFile(join(out, 'index.html'), 'utf8'), /bubblewrap sandbox/);
    assert.match(
      await readFile(join(out, 'forker', 'report.txt'), 'utf8'),
      /Sandbox: bubblewrap\nLimits reached: could not start a process: limit 64/,
    );
  } finally {
    host.close();
    await rm(base, { recursive: true, force: true });
  }
}

describe('grade in its sandbox, a hostile class', {
  skip: !hasBwrap && 'bwrap is not installed (scripts/install-system-tools.sh bubblewrap)',
}, () => {
  test(
    `as ${isRoot ? 'root' : 'this user'}: every hostile submission contained and reported, the correct one passes`,
    { timeout: 240_000 },
    () => gradeHostileClass(false),
  );
  test('as an ordinary user (nobody)', { skip: !isRoot && 'needs root to run as nobody', timeout: 240_000 }, () =>
    gradeHostileClass(true),
  );
});
