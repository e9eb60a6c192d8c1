// `linedrop grade` on a folder of lab-style Python servers: one after another on ports of their
// own (no root needed), and in network namespaces of their own where they can be made. Asserts the
// CSV rows, the JUnit file (read back with Python's XML parser), each submission's files, the
// progress lines and that no server is left running.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { findPython, TEMPLATE_COMMAND, templateCommand } from '../../src/check/grade/grade.js';
import { findNamespaces } from '../../src/check/grade/isolation.js';
import { submissionsFromZip } from '../../src/check/grade/submissions.js';
import { BadZipError } from '../../src/check/grade/unzip.js';
import { SERVER_CHECKS } from '../../src/check/server-checks.js';
import type { GradedSubmission } from '../../src/check/grade/types.js';
import { main } from '../../src/cli/main.js';
import { findSubmissions, gradeClass } from '../../src/check/index.js';
import { ROOT, removeDir, tempDir } from '../support.js';
import { labServer, writeClass } from './grade-fixtures/class.js';

const FIXTURES = join(ROOT, 'test/check/grade-fixtures');
const PARSE = join(FIXTURES, 'parse.py');
const MAKE_ZIP = join(FIXTURES, 'make_zip.py');

type ZipEntry = { name: string } & ({ text: string } | { dir: true } | { zeros: number } | { symlink: string });

/** A real zip, written by Python's zipfile module with the names exactly as given. */
function makeZip(file: string, entries: ZipEntry[]): string {
  execFileSync('python3', [MAKE_ZIP, file, JSON.stringify(entries)]);
  return file;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** `linedrop grade ...args`: the exit status and what it printed. */
async function grade(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  // The machine running npm test may have no bwrap: the sandbox has tests of its own (test/system/sandbox.test.ts).
  const all = args.includes('--sandbox') ? args : [...args, '--sandbox', 'none'];
  const code = await main(['grade', ...all], { stdin: new PassThrough(), stdout, stderr });
  return { code, stdout: out, stderr: err };
}
/** Each server on the port grade gives it (the lab's servers hard-code 12100). */
const PORT_CMD = `sed 's/^PORT = 12100$/PORT = {port}/' {file} > server.py && printf '2\\n' | exec python3 server.py`;
/** In a network namespace of its own, each keeps 12100. */
const NETNS_CMD = `printf '2\\n' | exec python3 {file}`;

/** A class: a correct lab server, one that answers "A\n", one that never starts. */
async function makeClass(): Promise<string> {
  const dir = await tempDir('linedrop-class-');
  await writeClass(dir, { alice: '', bob: 'a-newline', carol: 'no-start' });
  return dir;
}

function csvRows(file: string): Record<string, string>[] {
  const rows = JSON.parse(execFileSync('python3', [PARSE, 'csv', file], { encoding: 'utf8' })) as string[][];
  const head = rows[0]!;
  return rows.slice(1).map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]!])));
}

interface Suite {
  name: string;
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  cases: { name: string; outcome: string }[];
}

function junit(file: string): { tests: number; failures: number; errors: number; skipped: number; suites: Suite[] } {
  return JSON.parse(execFileSync('python3', [PARSE, 'junit', file], { encoding: 'utf8' }));
}

/** The processes still working in `dir` or naming it (a server grade should have stopped), from /proc. */
async function leftRunning(dir: string): Promise<string[]> {
  const left: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    try {
      const cwd = await readlink(`/proc/${pid}/cwd`);
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
      if (cwd.startsWith(dir) || args.includes(dir)) left.push(`${pid} ${args}`);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return left;
}

async function assertClassFiles(out: string, subs: readonly GradedSubmission[]): Promise<void> {
  const rows = csvRows(join(out, 'grades.csv'));
  assert.deepEqual(
    rows.map((r) => r['submission']),
    ['alice', 'bob', 'carol'],
  );
  const [alice, bob, carol] = rows as [Record<string, string>, Record<string, string>, Record<string, string>];
  const detail = subs.map((s) => `${s.name}: ${s.verdict} ${s.problem ?? ''} ${s.report?.error ?? ''}`).join('\n');
  assert.equal(alice['verdict'], 'pass', detail);
  assert.equal(alice['required_failed'], '0');
  assert.equal(alice['failed_checks'], '');
  assert.equal(bob['verdict'], 'fail', detail);
  assert.notEqual(bob['required_failed'], '0');
  assert.ok(bob['failed_checks']!.length > 0);
  assert.equal(carol['verdict'], 'no-start', detail);
  assert.equal(carol['required_passed'], '0');
  assert.match(carol['problem']!, /never accepted a connection.*config\.txt not found: cannot start/);
  for (const [row, sub] of rows.map((r, i) => [r, subs[i]!] as const)) {
    const req = sub.report!.summary.required;
    assert.deepEqual(
      [row['required_passed'], row['required_failed'], row['required_skipped']],
      [String(req.passed), String(req.failed), String(req.skipped)],
    );
  }

  const x = junit(join(out, 'junit.xml'));
  assert.deepEqual(
    x.suites.map((s) => s.name),
    ['alice', 'bob', 'carol'],
  );
  for (const [i, s] of x.suites.entries()) {
    const report = subs[i]!.report!;
    assert.equal(s.tests, report.checks.length);
    assert.deepEqual(
      s.cases.map((c) => c.name),
      report.checks.map((c) => c.name),
    );
    assert.equal(s.failures, s.cases.filter((c) => c.outcome === 'failure').length);
    assert.equal(s.failures, report.summary.required.failed);
    assert.equal(s.errors, s.cases.filter((c) => c.outcome === 'error').length);
    assert.equal(s.skipped, s.cases.filter((c) => c.outcome === 'skipped').length);
  }
  assert.equal(
    x.tests,
    x.suites.reduce((n, s) => n + s.tests, 0),
  );
  assert.equal(x.suites[0]!.failures + x.suites[0]!.errors, 0);
  assert.ok(x.suites[2]!.errors > 0, 'the server that never started: its required checks are errors');

  for (const name of ['alice', 'bob', 'carol']) {
    const files = await readdir(join(out, name));
    for (const f of ['report.txt', 'report.json', 'index.html', 'server.log', 'work'])
      assert.ok(files.includes(f), `${name}/${f}`);
    const json = JSON.parse(await readFile(join(out, name, 'report.json'), 'utf8')) as GradedSubmission;
    assert.equal(json.name, name);
    assert.deepEqual(json.report, subs.find((s) => s.name === name)!.report);
  }
  const carolText = await readFile(join(out, 'carol', 'report.txt'), 'utf8');
  assert.match(carolText, /DID NOT START|NO-START/);
  assert.match(carolText, /\| Starting the server\n[\s\S]*\| .*config\.txt not found: cannot start/);
  const aliceText = await readFile(join(out, 'alice', 'report.txt'), 'utf8');
  assert.match(aliceText, /^Submission alice .*: PASS/);
  assert.ok(!aliceText.includes('server.log'), 'the report names the command as given, not its redirection');
  const index = await readFile(join(out, 'index.html'), 'utf8');
  for (const name of ['alice', 'bob', 'carol']) assert.ok(index.includes(`href="${name}/index.html"`));
}

describe('grade', () => {
  let cls: string;
  const outs: string[] = [];
  before(async () => {
    cls = await makeClass();
  });
  after(async () => {
    await removeDir(cls);
    for (const o of outs) await removeDir(o);
  });

  test('one after another, each on a port of its own ({port}): CSV, JUnit, report files, progress, exit 0', async () => {
    const out = await tempDir('linedrop-grades-');
    outs.push(out);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let printed = '';
    let progress = '';
    stdout.on('data', (c: Buffer) => (printed += c.toString()));
    stderr.on('data', (c: Buffer) => (progress += c.toString()));
    const points = join(out, '..', `${out.split('/').at(-1)}-points.json`);
    outs.push(points);
    await writeFile(points, '{"content": 3}');
    const code = await main(
      [
        'grade',
        cls,
        '--cmd',
        PORT_CMD,
        '--out',
        out,
        '--isolation',
        'none',
        '--sandbox',
        'none',
        '--quick',
        '--points',
        points,
      ],
      {
        stdin: new PassThrough(),
        stdout,
        stderr,
      },
    );
    assert.equal(code, 0, progress);
    assert.match(progress, /^Grading 3 submissions, one after another, each on a free port/);
    const lines = progress.split('\n').filter((l) => /^\[\d\/3\]/.test(l));
    assert.equal(lines.length, 3, progress);
    assert.match(lines.find((l) => l.includes('carol'))!, /DID NOT START/);
    assert.match(printed, /Graded 3 submissions in [\d.]+ s: 1 pass, 1 fail, 1 did not start\./);
    const subs = await Promise.all(
      ['alice', 'bob', 'carol'].map(
        async (n) => JSON.parse(await readFile(join(out, n, 'report.json'), 'utf8')) as GradedSubmission,
      ),
    );
    // Each on a port of its own, none on the lab's.
    const ports = subs.map((s) => s.port);
    assert.equal(new Set(ports).size, 3);
    assert.ok(!ports.includes(12100));
    await assertClassFiles(out, subs);
    // The scores: content worth 3, every other required check 1; in grades.csv and report.json alike.
    const max = SERVER_CHECKS.filter((c) => c.required).length + 2;
    const rows = csvRows(join(out, 'grades.csv'));
    assert.deepEqual(
      rows.map((r) => [r['submission'], r['score'], r['max_score']]),
      subs.map((s) => [s.name, String(s.score), String(s.maxScore)]),
    );
    assert.deepEqual([subs[0]!.score, subs[0]!.maxScore], [max, max]);
    assert.ok(subs[1]!.score < max && subs[1]!.maxScore === max, `bob: ${subs[1]!.score}/${subs[1]!.maxScore}`);
    assert.deepEqual([subs[2]!.score, subs[2]!.maxScore], [0, max]);
    assert.match(
      await readFile(join(out, 'bob', 'report.txt'), 'utf8'),
      new RegExp(`^Score: ${subs[1]!.score} of ${max}$`, 'm'),
    );
    assert.deepEqual(await leftRunning(out), []);
  });

  test('--points: a check that does not exist, or a bad value, is a usage error naming it; nothing is graded', async () => {
    const dir = await tempDir('linedrop-points-');
    outs.push(dir);
    await writeFile(join(dir, 'typo.json'), '{"contnet": 3}');
    await writeFile(join(dir, 'negative.json'), '{"quit": -2}');
    const typo = await grade([cls, '--cmd', PORT_CMD, '--out', join(dir, 'out'), '--points', join(dir, 'typo.json')]);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /typo\.json: "contnet" is not a check \(did you mean "content"\?\)/);
    const negative = await grade([
      cls,
      '--cmd',
      PORT_CMD,
      '--out',
      join(dir, 'out'),
      '--points',
      join(dir, 'negative.json'),
    ]);
    assert.equal(negative.code, 2);
    assert.match(negative.stderr, /the points of "quit" must be a number of 0 or more, not -2/);
    const missing = await grade([
      cls,
      '--cmd',
      PORT_CMD,
      '--out',
      join(dir, 'out'),
      '--points',
      join(dir, 'nothing.json'),
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the points file .*nothing\.json: ENOENT; give --points a JSON file/);
    assert.equal(await exists(join(dir, 'out')), false, 'nothing graded');
  });

  test(
    "a course site's .zip: Moodle's folders and files, Canvas's files, a folder around the " +
      'class; named after the students',
    async () => {
      const dir = await tempDir('linedrop-zip-');
      outs.push(dir);
      const server = await labServer();
      const zip = makeZip(join(dir, 'moodle.zip'), [
        { name: 'Lab 3/Alice Smith_123_assignsubmission_file_/', dir: true },
        { name: 'Lab 3/Alice Smith_123_assignsubmission_file_/tcp.py', text: server },
        { name: 'Lab 3/Bob Jones_456_assignsubmission_file_tcp.py', text: 'print("bob")\n' },
        { name: 'Lab 3/smith_carol_12345_678_tcp.py', text: 'print("carol")\n' },
        { name: 'Lab 3/smith_carol_12345_679_README.txt', text: 'my notes\n' },
        { name: 'Lab 3/dave/src/server.py', text: 'print("dave")\n' },
        { name: '__MACOSX/Lab 3/._dave', text: 'clutter' },
      ]);
      const into = join(dir, 'unpacked');
      const subs = await submissionsFromZip(zip, into);
      assert.deepEqual(
        subs.map((s) => [s.name, s.kind]),
        [
          ['Alice_Smith', 'file'],
          ['Bob_Jones', 'file'],
          ['dave', 'folder'],
          ['smith_carol', 'folder'],
        ],
      );
      assert.equal(await readFile(subs[0]!.source, 'utf8'), server);
      assert.ok(subs[0]!.source.startsWith(`${into}/`) && subs[0]!.source.endsWith('/tcp.py'));
      assert.equal(await readFile(subs[1]!.source, 'utf8'), 'print("bob")\n');
      assert.ok(subs[1]!.source.endsWith('/tcp.py'), subs[1]!.source);
      assert.deepEqual((await readdir(subs[3]!.source)).sort(), ['README.txt', 'tcp.py']);
      assert.equal(await readFile(join(subs[2]!.source, 'src', 'server.py'), 'utf8'), 'print("dave")\n');
      assert.ok(!(await readdir(into)).some((f) => f.includes('MACOSX')));
    },
  );

  test(
    'unsafe zips are refused whole, with the reason, and nothing is written outside: "../", ' +
      'absolute, a symbolic link, too big, too many entries',
    async () => {
      const dir = await tempDir('linedrop-zip-');
      outs.push(dir);
      const ok = { name: 'alice.py', text: 'print(1)\n' };
      const cases: [string, ZipEntry[], RegExp][] = [
        [
          'dotdot',
          [ok, { name: 'bob/../../escaped.txt', text: 'out' }],
          /the zip .*dotdot\.zip is refused: an entry's path leaves the folder \(bob\/\.\.\/\.\.\/escaped\.txt\)|dotdot\.zip is refused: an entry's path leaves the folder/,
        ],
        [
          'absolute',
          [ok, { name: `${dir}/absolute-escaped.txt`, text: 'out' }],
          /absolute\.zip is refused: an entry has an absolute path/,
        ],
        [
          'symlink',
          [{ name: 'eve/home', symlink: '/root' }, ok],
          /the entry "eve\/home" is a symbolic link: the zip is refused/,
        ],
      ];
      for (const [name, entries, message] of cases) {
        const zip = makeZip(join(dir, `${name}.zip`), entries);
        const into = join(dir, `${name}-into`);
        await assert.rejects(
          submissionsFromZip(zip, into),
          (e: unknown) => e instanceof BadZipError && message.test(e.message),
          name,
        );
        assert.equal(await exists(join(dir, 'escaped.txt')), false);
        assert.equal(await exists(join(dir, 'absolute-escaped.txt')), false);
        assert.deepEqual(await readdir(into).catch(() => []), [], `${name}: nothing unpacked`);
      }
      // Too many entries, and more bytes than allowed (2 MiB of zeros deflate to a few KiB: counted as unpacked).
      const many = makeZip(join(dir, 'many.zip'), [
        ok,
        { name: 'b.py', text: '' },
        { name: 'c.py', text: '' },
        { name: 'd.py', text: '' },
      ]);
      await assert.rejects(
        submissionsFromZip(many, join(dir, 'many-into'), { maxBytes: 1 << 20, maxEntries: 3 }),
        /many\.zip holds 4 entries, more than the 3 a class may/,
      );
      const big = makeZip(join(dir, 'big.zip'), [ok, { name: 'bob/zeros.bin', zeros: 2 << 20 }]);
      assert.ok((await stat(big)).size < 64 * 1024);
      await assert.rejects(
        submissionsFromZip(big, join(dir, 'big-into'), { maxBytes: 1 << 20, maxEntries: 100 }),
        /big\.zip unpacks to more than 1\.0 MiB: it is refused; raise --max-unzipped/,
      );
      // Through the command: exit status 2, the reason, no submission graded.
      const out = join(dir, 'out');
      const r = await grade([big, '--cmd', PORT_CMD, '--out', out, '--max-unzipped', '1MiB']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^linedrop grade: .*big\.zip unpacks to more than 1\.0 MiB: it is refused/);
      assert.equal(await exists(join(out, 'grades.csv')), false);
      const sym = await grade([join(dir, 'symlink.zip'), '--cmd', PORT_CMD, '--out', join(dir, 'out2')]);
      assert.equal(sym.code, 2);
      assert.match(sym.stderr, /is a symbolic link: the zip is refused/);
    },
  );

  test(
    "no --cmd: a .py starts the template's way, a folder by its one .py; anything else is a " +
      'usage error saying what to give',
    async () => {
      const dir = await tempDir('linedrop-class-');
      outs.push(dir);
      await writeFile(join(dir, 'alice.py'), '');
      await mkdir(join(dir, 'bob'));
      await writeFile(join(dir, 'bob', 'my server.py'), '');
      await writeFile(join(dir, 'bob', 'notes.txt'), '');
      await writeFile(join(dir, 'carol.c'), 'int main(void) { return 0; }\n');
      const [alice, bob, carol] = await findSubmissions([dir]);
      assert.equal(TEMPLATE_COMMAND, "printf '2\\n' | python3 {file}");
      assert.equal(await templateCommand(alice!), TEMPLATE_COMMAND);
      assert.equal(await templateCommand(bob!), "printf '2\\n' | python3 'my server.py'");
      assert.equal(await templateCommand(carol!), null);
      const r = await grade([dir, '--out', join(dir, 'out')]);
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /no --cmd given, and 1 submission is not a Python server to start the template's way .*: carol \(not a \.py file\); give --cmd with the command that starts one/,
      );
      assert.equal(await exists(join(dir, 'out', 'grades.csv')), false);
    },
  );

  test("a .zip graded with no --cmd, in network namespaces: the template's command, said in the report", async (t) => {
    const ns = await findNamespaces();
    if (!ns) {
      t.skip('network namespaces cannot be made here (the template keeps port 12100)');
      return;
    }
    const dir = await tempDir('linedrop-zip-');
    outs.push(dir);
    const zip = makeZip(join(dir, 'class.zip'), [
      { name: 'Alice Smith_123_assignsubmission_file_/tcp.py', text: await labServer() },
      { name: 'jones_bob_12345_678_tcp.py', text: await labServer('a-newline') },
    ]);
    const out = join(dir, 'grades');
    const r = await grade([zip, '--out', out, '--isolation', 'netns', '--quick']);
    assert.equal(r.code, 0, r.stderr);
    const rows = csvRows(join(out, 'grades.csv'));
    assert.deepEqual(
      rows.map((row) => [row['submission'], row['verdict']]),
      [
        ['Alice_Smith', 'pass'],
        ['jones_bob', 'fail'],
      ],
      r.stderr,
    );
    // python3 named by its path: the interpreter `python3` runs, started without a wrapper.
    const python = await findPython();
    assert.ok(python.startsWith('/'), python);
    const text = await readFile(join(out, 'Alice_Smith', 'report.txt'), 'utf8');
    assert.ok(text.includes(`\nStarted with: printf '2\\n' | ${python} `), text.slice(0, 400));
    assert.match(
      text,
      /^Started with: .*\/tcp\.py \(the template's way: no --cmd was given \(python3 named by its path\)\)$/m,
    );
    const json = JSON.parse(await readFile(join(out, 'jones_bob', 'report.json'), 'utf8')) as GradedSubmission;
    assert.equal(json.commandNote, "the template's way: no --cmd was given (python3 named by its path)");
    assert.ok(json.score < json.maxScore);
    assert.match(await readFile(join(out, 'index.html'), 'utf8'), /the template&#39;s way|the template's way/);
    assert.deepEqual(await leftRunning(out), []);
  });

  test('a submission past the time limit: TIMED OUT, the checks that ran reported, the server stopped', async () => {
    const dir = await tempDir('linedrop-class-');
    const out = await tempDir('linedrop-grades-');
    outs.push(dir, out);
    await copyFile(join(FIXTURES, 'silent.py'), join(dir, 'dave.py'));
    const report = await gradeClass({
      paths: [dir],
      command: `sed 's/^PORT = 12100$/PORT = {port}/' {file} > server.py && exec python3 server.py`,
      out,
      isolation: 'none',
      sandbox: 'none',
      timeLimitMs: 3000,
    });
    const [dave] = report.submissions;
    assert.equal(dave?.verdict, 'timeout', dave?.problem);
    assert.match(dave.problem!, /time limit \(3 s\)/);
    assert.ok(dave.report!.checks.some((c) => c.skipReason === 'interrupted'));
    assert.equal(csvRows(join(out, 'grades.csv'))[0]!['verdict'], 'timeout');
    assert.deepEqual(await leftRunning(out), []);
  });

  test(
    'submissions: each entry of a folder (hidden ones and the output folder left out), names ' +
      'safe for a folder and unique',
    async () => {
      const dir = await tempDir('linedrop-class-');
      outs.push(dir);
      for (const f of ['alice.py', 'bob smith.py', 'carol.tar.gz', '.hidden.py']) await writeFile(join(dir, f), '');
      for (const d of ['alice', '.git', 'grades']) await mkdir(join(dir, d));
      const subs = await findSubmissions([dir], [join(dir, 'grades')]);
      assert.deepEqual(
        subs.map((s) => [s.name, s.kind, s.source]),
        [
          ['alice', 'folder', join(dir, 'alice')],
          ['alice-2', 'file', join(dir, 'alice.py')],
          ['bob_smith', 'file', join(dir, 'bob smith.py')],
          ['carol.tar', 'file', join(dir, 'carol.tar.gz')],
        ],
      );
      // Files named one by one: each is a submission.
      assert.deepEqual(
        (await findSubmissions([join(dir, 'alice.py'), join(dir, 'alice')])).map((s) => s.name),
        ['alice', 'alice-2'],
      );
      await assert.rejects(findSubmissions([join(dir, 'nobody.py')]), /nobody\.py: no such file or folder/);
    },
  );

  test('a folder per student: the folder is copied into the working folder and the command runs there', async () => {
    const dir = await tempDir('linedrop-class-');
    outs.push(dir);
    await mkdir(join(dir, 'erin'));
    await writeFile(join(dir, 'erin', 'tcp.py'), await labServer());
    await writeFile(join(dir, 'erin', 'notes.txt'), 'my notes\n');
    // The output folder inside the class folder is not a submission.
    const out = join(dir, 'grades');
    const report = await gradeClass({
      paths: [dir],
      command: "sed 's/^PORT = 12100$/PORT = {port}/' tcp.py > server.py && printf '2\\n' | exec python3 server.py",
      out,
      isolation: 'none',
      sandbox: 'none',
      quick: true,
    });
    assert.deepEqual(
      report.submissions.map((s) => [s.name, s.verdict]),
      [['erin', 'pass']],
      report.submissions[0]?.problem,
    );
    assert.equal(await readFile(join(out, 'erin', 'work', 'notes.txt'), 'utf8'), 'my notes\n');
    assert.ok(
      (await readdir(join(out, 'erin', 'work'))).includes('1.txt'),
      'the server saved its files in the working folder',
    );
  });

  test('nothing to grade: exit 2 and a message', async () => {
    const empty = await tempDir('linedrop-class-');
    outs.push(empty);
    const { code, stderr } = await grade([empty, '--cmd', 'python3 {file}', '--out', join(empty, 'out')]);
    assert.equal(code, 2);
    assert.match(stderr, /the folder holds no submission/);
  });

  test('an --out folder that holds other files is refused, and left as it was', async () => {
    const out = await tempDir('linedrop-grades-');
    outs.push(out);
    await mkdir(join(out, 'alice'));
    await writeFile(join(out, 'alice', 'thesis.tex'), 'years of work\n');
    const { code, stderr } = await grade([cls, '--cmd', PORT_CMD, '--out', out, '--isolation', 'none']);
    assert.equal(code, 2);
    assert.match(stderr, /is not empty and holds no earlier grading.*give --out a new or empty folder/);
    assert.equal(await readFile(join(out, 'alice', 'thesis.tex'), 'utf8'), 'years of work\n');
    assert.deepEqual(await readdir(out), ['alice']);
  });

  test('in network namespaces of their own: all on port 12100, in parallel', async (t) => {
    const ns = await findNamespaces();
    if (!ns) {
      t.skip('network namespaces cannot be made here');
      return;
    }
    const out = await tempDir('linedrop-grades-');
    outs.push(out);
    const finished: string[] = [];
    const report = await gradeClass({
      paths: [cls],
      command: NETNS_CMD,
      out,
      isolation: 'netns',
      sandbox: 'none',
      jobs: 3,
      quick: true,
      onGraded: (s) => finished.push(s.name),
    });
    assert.equal(report.isolation, 'netns');
    assert.equal(report.jobs, 3);
    assert.deepEqual(finished.sort(), ['alice', 'bob', 'carol']);
    assert.ok(report.submissions.every((s) => s.port === 12100));
    // In parallel: the three ran at the same time (each started before any other ended).
    const spans = report.submissions.map((s) => [Date.parse(s.startedAt), Date.parse(s.startedAt) + s.ms] as const);
    const lastStart = Math.max(...spans.map(([a]) => a));
    const firstEnd = Math.min(...spans.map(([, b]) => b));
    assert.ok(lastStart < firstEnd, 'the submissions overlapped in time');
    await assertClassFiles(out, report.submissions);
    assert.deepEqual(await leftRunning(out), []);
  });

  test(
    'in network namespaces: a server on a port of its own is graded there (the port reported, or ' +
      'failed with requirePort); a LAN bind is named',
    async (t) => {
      if (!(await findNamespaces())) {
        t.skip('network namespaces cannot be made here');
        return;
      }
      const dir = await tempDir('linedrop-class-');
      outs.push(dir);
      await writeFile(join(dir, 'dave.py'), (await labServer('')).replace(/^PORT = 12100$/m, 'PORT = 12222'));
      await writeClass(dir, { eve: 'bind-lan' });
      for (const requirePort of [false, true]) {
        const out = await tempDir('linedrop-grades-');
        outs.push(out);
        const report = await gradeClass({
          paths: [dir],
          command: NETNS_CMD,
          out,
          isolation: 'netns',
          quick: true,
          requirePort,
          sandbox: 'none',
        });
        const [dave, eve] = report.submissions;
        const port = dave!.report!.checks.find((c) => c.name === 'port')!;
        assert.equal(dave!.verdict, requirePort ? 'fail' : 'pass', `${dave!.problem ?? ''} ${port.seen}`);
        assert.equal(port.required, requirePort);
        assert.match(port.seen, /^listens on 12222; the template's port is 12100/);
        assert.equal(dave!.report!.listen?.port, 12222);
        assert.equal(eve!.verdict, 'no-start');
        assert.match(
          eve!.problem ?? '',
          /^the server could not bind 192\.168\.1\.187: that address is not on this machine \(EADDRNOTAVAIL\)/,
        );
        const log = await readFile(join(out, 'dave', 'server.log'), 'utf8');
        assert.match(log, /^===== start 1, for the check numbering/);
        assert.match(await readFile(join(out, 'eve', 'report.txt'), 'utf8'), /could not bind 192\.168\.1\.187/);
      }
    },
  );
});
