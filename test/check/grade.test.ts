// `linedrop grade` on a folder of lab-style Python servers: one after another on ports of their
// own (no root needed), and in network namespaces of their own where they can be made. Asserts the
// CSV rows, the JUnit file (read back with Python's XML parser), each submission's files, the
// progress lines and that no server is left running.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { findNamespaces } from '../../src/check/grade/isolation.js';
import type { GradedSubmission } from '../../src/check/grade/types.js';
import { main } from '../../src/cli/main.js';
import { findSubmissions, gradeClass } from '../../src/index.js';
import { ROOT, removeDir, tempDir } from '../support.js';
import { labServer, writeClass } from './grade-fixtures/class.js';

const FIXTURES = join(ROOT, 'test/check/grade-fixtures');
const PARSE = join(FIXTURES, 'parse.py');
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
    assert.deepEqual([row['required_passed'], row['required_failed'], row['required_skipped']], [String(req.passed), String(req.failed), String(req.skipped)]);
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
    for (const f of ['report.txt', 'report.json', 'index.html', 'server.log', 'work']) assert.ok(files.includes(f), `${name}/${f}`);
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
    const code = await main(['grade', cls, '--cmd', PORT_CMD, '--out', out, '--isolation', 'none', '--sandbox', 'none', '--quick'], {
      stdin: new PassThrough(),
      stdout,
      stderr,
    });
    assert.equal(code, 0, progress);
    assert.match(progress, /^Grading 3 submissions, one after another, each on a free port/);
    const lines = progress.split('\n').filter((l) => /^\[\d\/3\]/.test(l));
    assert.equal(lines.length, 3, progress);
    assert.match(lines.find((l) => l.includes('carol'))!, /DID NOT START/);
    assert.match(printed, /Graded 3 submissions in [\d.]+ s: 1 pass, 1 fail, 1 did not start\./);
    const subs = await Promise.all(
      ['alice', 'bob', 'carol'].map(async (n) => JSON.parse(await readFile(join(out, n, 'report.json'), 'utf8')) as GradedSubmission),
    );
    // Each on a port of its own, none on the lab's.
    const ports = subs.map((s) => s.port);
    assert.equal(new Set(ports).size, 3);
    assert.ok(!ports.includes(12100));
    await assertClassFiles(out, subs);
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

  test('submissions: each entry of a folder (hidden ones and the output folder left out), names safe for a folder and unique', async () => {
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
  });

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
    assert.ok((await readdir(join(out, 'erin', 'work'))).includes('1.txt'), 'the server saved its files in the working folder');
  });

  test('nothing to grade: exit 2 and a message', async () => {
    const empty = await tempDir('linedrop-class-');
    outs.push(empty);
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (c: Buffer) => (text += c.toString()));
    const code = await main(['grade', empty, '--cmd', 'python3 {file}', '--out', join(empty, 'out')], {
      stdin: new PassThrough(),
      stdout: new PassThrough(),
      stderr,
    });
    assert.equal(code, 2);
    assert.match(text, /the folder holds no submission/);
  });

  test('an --out folder that holds other files is refused, and left as it was', async () => {
    const out = await tempDir('linedrop-grades-');
    outs.push(out);
    await mkdir(join(out, 'alice'));
    await writeFile(join(out, 'alice', 'thesis.tex'), 'years of work\n');
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (c: Buffer) => (text += c.toString()));
    const code = await main(['grade', cls, '--cmd', PORT_CMD, '--out', out, '--isolation', 'none', '--sandbox', 'none'], {
      stdin: new PassThrough(),
      stdout: new PassThrough(),
      stderr,
    });
    assert.equal(code, 2);
    assert.match(text, /is not empty and holds no earlier grading.*give --out a new or empty folder/);
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
});
