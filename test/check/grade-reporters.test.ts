// The reporters (text, CSV, JUnit, Gradescope, JSON, HTML) on real reports: the checker run against
// linedrop's own server and against a server that answers "A\n" (an extra byte after each status).
// CSV and JUnit are read back with Python's own csv and XML parsers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { GradedSubmission } from '../../src/check/grade/types.js';
import { wantsColour } from '../../src/check/reporters/colour.js';
import { gradesCsv } from '../../src/check/reporters/csv.js';
import { gradescopeResults } from '../../src/check/reporters/gradescope.js';
import { classIndexHtml, submissionHtml } from '../../src/check/reporters/html.js';
import { junitXml } from '../../src/check/reporters/junit.js';
import { BadPointsError, parsePoints } from '../../src/check/grade/points.js';
import { scoreOf } from '../../src/check/score.js';
import { serverReportText } from '../../src/check/reporters/text.js';
import { main } from '../../src/cli/main.js';
import { checkServer, SERVER_CHECKS, type CheckReport } from '../../src/check/index.js';
import { HOST, ROOT, removeDir, runServer, tempDir } from '../support.js';

const PARSE = join(ROOT, 'test/check/grade-fixtures/parse.py');

interface ParsedSuite {
  name: string;
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  properties: Record<string, string>;
  cases: { name: string; classname: string; outcome: string; message: string | null }[];
  system_out: string;
}
interface ParsedJunit {
  tag: string;
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  suites: ParsedSuite[];
}

function parse<T>(kind: 'junit' | 'csv', file: string): T {
  return JSON.parse(execFileSync('python3', [PARSE, kind, file], { encoding: 'utf8' })) as T;
}

/** A many-connection server that saves k.txt correctly but answers "A\n" and "Q\n". */
async function extraByteServer(dir: string): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let k = 0;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4) {
        const n = buf.readUInt32BE(0);
        if (n === 0) {
          socket.end('Q\n');
          buf = Buffer.alloc(0);
          return;
        }
        let pos = 4;
        let lines = 0;
        while (lines < n) {
          const nl = buf.indexOf(0x0a, pos);
          if (nl === -1) return;
          pos = nl + 1;
          lines++;
        }
        void writeFile(join(dir, `${++k}.txt`), buf.subarray(4, pos)).then(() => socket.write('A\n'));
        buf = buf.subarray(pos);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function graded(name: string, report: CheckReport, extra: Partial<GradedSubmission> = {}): GradedSubmission {
  return {
    name,
    source: `/class/${name}.py`,
    verdict: report.summary.exitCode === 0 ? 'pass' : 'fail',
    report,
    outputTail: 'Listening on port 12100 <& "quoted">',
    port: report.target.port,
    command: `python3 /class/${name}.py`,
    ...scoreOf(report, {}, SERVER_CHECKS),
    startedAt: report.startedAt,
    ms: report.ms,
    ...extra,
  };
}

describe('reporters', () => {
  let good: CheckReport;
  let flawed: CheckReport;
  let dir: string;

  before(async () => {
    const linedrop = await runServer();
    // The template's full 1 s pause in the count (quick alone makes it 100 ms).
    good = await checkServer({ host: HOST, port: linedrop.port, dir: linedrop.dir, quick: true, pauseMs: 1000 });
    await linedrop.close();
    dir = await tempDir();
    const broken = await extraByteServer(dir);
    flawed = await checkServer({ host: HOST, port: broken.port, dir, quick: true });
    await broken.close();
    assert.equal(good.summary.exitCode, 0, serverReportText(good));
    assert.ok(flawed.summary.required.failed > 0, serverReportText(flawed));
  });
  after(async () => removeDir(dir));

  test(
    'colours: FORCE_COLOR forces them (0 or false turns them off), NO_COLOR turns them off, else ' +
      'only on a terminal',
    () => {
      const tty = { isTTY: true };
      const pipe = {};
      assert.equal(wantsColour(tty, {}), true);
      assert.equal(wantsColour(pipe, {}), false);
      assert.equal(wantsColour(tty, { NO_COLOR: '1' }), false);
      assert.equal(wantsColour(tty, { NO_COLOR: '' }), true);
      assert.equal(wantsColour(tty, { TERM: 'dumb' }), false);
      assert.equal(wantsColour(pipe, { FORCE_COLOR: '1' }), true);
      assert.equal(wantsColour(pipe, { FORCE_COLOR: '' }), true);
      assert.equal(wantsColour(tty, { FORCE_COLOR: '0' }), false);
      assert.equal(wantsColour(tty, { FORCE_COLOR: 'false' }), false);
    },
  );

  test("grades.csv: a row per submission, read back by Python's csv module", async () => {
    const subs = [
      graded('alice', good),
      graded('bob, "the builder"', flawed),
      {
        ...graded('carol', good),
        verdict: 'no-start' as const,
        report: null,
        problem: 'the server never accepted a connection on port 12100',
      },
    ];
    const file = join(dir, 'grades.csv');
    await writeFile(file, gradesCsv(subs));
    const rows = parse<string[][]>('csv', file);
    const head = rows[0]!;
    assert.deepEqual(head.slice(0, 6), [
      'submission',
      'verdict',
      'required_passed',
      'required_failed',
      'required_skipped',
      'required_not_applicable',
    ]);
    const col = (row: string[], name: string): string => row[head.indexOf(name)]!;
    assert.equal(rows.length, 4);
    const [alice, bob, carol] = [rows[1]!, rows[2]!, rows[3]!];
    assert.equal(col(alice, 'verdict'), 'pass');
    assert.equal(col(alice, 'required_passed'), String(good.summary.required.passed));
    assert.equal(col(alice, 'required_failed'), '0');
    assert.equal(col(alice, 'failed_checks'), '');
    assert.equal(col(bob, 'submission'), 'bob, "the builder"');
    assert.equal(col(bob, 'verdict'), 'fail');
    const bobFailed = flawed.checks.filter((c) => c.required && c.status === 'fail').map((c) => c.name);
    assert.equal(col(bob, 'required_failed'), String(bobFailed.length));
    assert.equal(col(bob, 'failed_checks'), bobFailed.join(' '));
    assert.equal(col(bob, 'first_failure'), bobFailed[0]);
    assert.equal(col(carol, 'verdict'), 'no-start');
    assert.equal(col(carol, 'required_passed'), '0');
    assert.match(col(carol, 'problem'), /never accepted a connection/);
    // The score last: a point per required check passed, of a point per required check.
    assert.deepEqual(head.slice(-2), ['score', 'max_score']);
    const required = SERVER_CHECKS.filter((c) => c.required).length;
    assert.deepEqual([col(alice, 'score'), col(alice, 'max_score')], [String(required), String(required)]);
    assert.deepEqual(
      [col(bob, 'score'), col(bob, 'max_score')],
      [String(flawed.summary.required.passed), String(required)],
    );
    assert.ok(flawed.summary.required.passed < required);
  });

  test(
    'score: a point per required check by default; --points sets them check by check; skipped ' +
      'and failed checks score 0',
    () => {
      const required = SERVER_CHECKS.filter((c) => c.required);
      assert.deepEqual(scoreOf(good, {}, SERVER_CHECKS), { score: required.length, maxScore: required.length });
      const failed = flawed.checks.filter((c) => c.required && c.status === 'fail').map((c) => c.name);
      assert.ok(failed.length > 0);
      // content worth 3, quit 0 (not graded), concurrent-clients (beyond the handout) 0.5.
      const points = parsePoints('{"content": 3, "quit": 0, "concurrent-clients": 0.5}', 'points.json', SERVER_CHECKS);
      const worth = (name: string): number =>
        name === 'content'
          ? 3
          : name === 'quit'
            ? 0
            : name === 'concurrent-clients'
              ? 0.5
              : SERVER_CHECKS.find((c) => c.name === name)!.required
                ? 1
                : 0;
      const expect = (report: CheckReport): { score: number; maxScore: number } => {
        let score = 0;
        let maxScore = 0;
        for (const c of report.checks) {
          if (worth(c.name) === 0 || (c.status === 'skip' && c.skipReason === 'quick')) continue;
          maxScore += worth(c.name);
          if (c.status === 'pass' || c.status === 'not-applicable') score += worth(c.name);
        }
        return { score, maxScore };
      };
      assert.deepEqual(scoreOf(flawed, points, SERVER_CHECKS), expect(flawed));
      assert.ok(scoreOf(flawed, points, SERVER_CHECKS).score < scoreOf(good, points, SERVER_CHECKS).score);
      // A required check that did not run (the server was gone) scores 0 but counts: the same maximum as a good run.
      const gone: CheckReport = {
        ...good,
        checks: good.checks.map((c) =>
          c.name === 'content' ? { ...c, status: 'skip' as const, skipReason: 'unreachable' as const } : c,
        ),
      };
      assert.deepEqual(scoreOf(gone, points, SERVER_CHECKS), {
        score: scoreOf(good, points, SERVER_CHECKS).score - 3,
        maxScore: scoreOf(good, points, SERVER_CHECKS).maxScore,
      });
      // No report at all (the checker could not run): nothing scored, every check worth something counts.
      assert.deepEqual(scoreOf(null, {}, SERVER_CHECKS), { score: 0, maxScore: required.length });
      assert.deepEqual(scoreOf(null, points, SERVER_CHECKS), { score: 0, maxScore: required.length - 1 + 2 + 0.5 });
    },
  );

  test('--points files: a check not named, a bad value, not JSON, not an object: each a clear error', () => {
    const bad = (text: string, message: RegExp): void =>
      assert.throws(
        () => parsePoints(text, 'points.json', SERVER_CHECKS),
        (e: unknown) => e instanceof BadPointsError && message.test(e.message),
      );
    bad(
      '{"contnet": 3}',
      /points\.json: "contnet" is not a check \(did you mean "content"\?\); the checks are: .*content/,
    );
    bad('{"xyzzy": 3}', /"xyzzy" is not a check; the checks are: /);
    bad('{"content": -1}', /the points of "content" must be a number of 0 or more, not -1/);
    bad('{"content": "3"}', /the points of "content" must be a number of 0 or more, not "3"/);
    bad('{"content": null}', /not null/);
    bad('[1, 2]', /must hold a JSON object of check names and points/);
    bad('{"content": 3,}', /points\.json is not JSON \(.*\): write an object/);
    assert.deepEqual(parsePoints('{}', 'points.json', SERVER_CHECKS), {});
  });

  test('junit.xml: well-formed, a testsuite per submission, a testcase per check, the counts right', async () => {
    const subs = [
      graded('alice', good),
      graded('bob', flawed),
      { ...graded('carol', good), verdict: 'error' as const, report: null, problem: 'the checker could not run' },
    ];
    const file = join(dir, 'junit.xml');
    await writeFile(file, junitXml(subs));
    const x = parse<ParsedJunit>('junit', file);
    assert.equal(x.tag, 'testsuites');
    assert.deepEqual(
      [x.suites[1]!.properties['score'], x.suites[1]!.properties['max_score']],
      [String(subs[1]!.score), String(subs[1]!.maxScore)],
    );
    assert.deepEqual(
      x.suites.map((s) => s.name),
      ['alice', 'bob', 'carol'],
    );
    for (const s of x.suites) {
      assert.equal(s.tests, s.cases.length, `${s.name}: tests`);
      for (const kind of ['failures', 'errors', 'skipped'] as const) {
        const outcome = kind === 'failures' ? 'failure' : kind === 'errors' ? 'error' : 'skipped';
        assert.equal(s[kind], s.cases.filter((c) => c.outcome === outcome).length, `${s.name}: ${kind}`);
      }
      assert.equal(s.system_out, 'Listening on port 12100 <& "quoted">');
    }
    for (const kind of ['tests', 'failures', 'errors', 'skipped'] as const) {
      assert.equal(
        x[kind],
        x.suites.reduce((n, s) => n + s[kind], 0),
        `testsuites ${kind}`,
      );
    }
    const [alice, bob, carol] = x.suites as [ParsedSuite, ParsedSuite, ParsedSuite];
    assert.deepEqual(
      alice.cases.map((c) => c.name),
      good.checks.map((c) => c.name),
    );
    assert.equal(alice.failures + alice.errors, 0);
    const bobFailed = flawed.checks.filter((c) => c.required && c.status === 'fail').map((c) => c.name);
    assert.deepEqual(
      bob.cases.filter((c) => c.outcome === 'failure').map((c) => c.name),
      bobFailed,
    );
    assert.ok(
      bob.cases.every(
        (c) =>
          c.classname ===
          (flawed.checks.find((r) => r.name === c.name)!.required ? 'bob.required' : 'bob.beyond-handout'),
      ),
    );
    assert.deepEqual(
      carol.cases.map((c) => [c.name, c.outcome, c.message]),
      [['start', 'error', 'the checker could not run']],
    );
    assert.equal(carol.properties['verdict'], 'error');
  });

  test('Gradescope results.json: a test per check, a point per required check that passed', () => {
    const results = gradescopeResults(flawed);
    assert.equal(results.tests.length, flawed.checks.length);
    for (const [i, t] of results.tests.entries()) {
      const r = flawed.checks[i]!;
      assert.ok(t.name.startsWith(`${r.name}: `));
      assert.equal(typeof t.output, 'string');
      assert.ok(t.output.includes(r.seen));
      assert.ok(t.status === 'passed' || t.status === 'failed');
      if (r.required && r.status === 'pass') assert.deepEqual([t.score, t.max_score, t.status], [1, 1, 'passed']);
      if (r.required && r.status === 'fail') assert.deepEqual([t.score, t.max_score, t.status], [0, 1, 'failed']);
      if (!r.required) assert.equal(t.max_score, 0);
    }
    assert.equal(results.score, flawed.summary.required.passed);
    assert.match(results.output, /Required: \d+ passed/);
    const all = gradescopeResults(good, { points: 5, visibility: 'after_due_date' });
    assert.equal(all.score, 5 * good.summary.required.passed);
    // The --points file's points, as grades.csv counts them.
    const points = parsePoints('{"content": 3, "quit": 0}', 'points.json', SERVER_CHECKS);
    const weighted = gradescopeResults(flawed, { checkPoints: points });
    assert.equal(weighted.score, scoreOf(flawed, points, SERVER_CHECKS).score);
    assert.equal(
      weighted.tests.reduce((n, t) => n + t.max_score, 0),
      scoreOf(flawed, points, SERVER_CHECKS).maxScore,
    );
    assert.equal(weighted.tests.find((t) => t.name.startsWith('content:'))!.max_score, 3);
    assert.equal(weighted.tests.find((t) => t.name.startsWith('quit:'))!.max_score, 0);
    assert.ok(all.tests.every((t) => t.visibility === 'after_due_date'));
    assert.deepEqual(JSON.parse(JSON.stringify(all)), all);
  });

  test('check --gradescope FILE writes results.json: a test per check with score, max_score, status and output', async () => {
    const linedrop = await runServer();
    const file = join(dir, 'autograder', 'results', 'results.json');
    const io = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
    io.stdout.resume();
    const code = await main(
      ['check', `${HOST}:${linedrop.port}`, '--dir', linedrop.dir, '--quick', '--gradescope', file],
      io,
    );
    await linedrop.close();
    assert.equal(code, 0);
    const results = JSON.parse(await readFile(file, 'utf8')) as {
      score: number;
      execution_time: number;
      output: string;
      tests: Record<string, unknown>[];
    };
    assert.equal(typeof results.execution_time, 'number');
    assert.match(results.output, /Every required check that ran passed/);
    assert.equal(results.tests.length, SERVER_CHECKS.length);
    for (const [i, t] of results.tests.entries()) {
      assert.deepEqual(Object.keys(t).sort(), [
        'max_score',
        'name',
        'number',
        'output',
        'output_format',
        'score',
        'status',
        'tags',
      ]);
      assert.ok(String(t['name']).startsWith(`${SERVER_CHECKS[i]!.name}: `));
      assert.equal(t['max_score'], SERVER_CHECKS[i]!.required ? 1 : 0);
    }
    const required = results.tests.filter((t) => t['max_score'] === 1);
    assert.ok(required.length > 0 && required.every((t) => t['score'] === 1 && t['status'] === 'passed'));
    assert.equal(results.score, required.length);

    // A file that cannot be written: said, exit status 2.
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (c: Buffer) => (text += c.toString()));
    const again = await runServer();
    const bad = await main(
      ['check', `${HOST}:${again.port}`, '--quick', '--only', 'quit', '--gradescope', join(file, 'inside-a-file.json')],
      {
        ...io,
        stderr,
      },
    );
    await again.close();
    assert.equal(bad, 2);
    assert.match(text, /cannot write the Gradescope results to .*inside-a-file\.json/);
  });

  test("HTML: each check shows its conversation as a timeline, the template's 1 s pause in the count visible", () => {
    const page = submissionHtml(graded('alice', good));
    const section = page.slice(page.indexOf('id="template-timing"'));
    const timeline = section.slice(section.indexOf('<table class="timeline">'), section.indexOf('</table>'));
    const timing = good.checks.find((c) => c.name === 'template-timing')!;
    assert.ok(timing.conversation.length > 0);
    // The two halves of the count, a second apart, with the pause between them on a row of its own.
    const rows = timeline.split('\n').filter((row) => row.startsWith('<tr'));
    const firstHalf = rows.findIndex(
      (row) => row.includes('class="ev sent"') && row.includes('<code class="hex">00 00</code>'),
    );
    assert.ok(firstHalf >= 0, timeline);
    assert.match(rows[firstHalf + 1]!, /class="pause".*… 1\.\d\d s with nothing on the wire …/);
    assert.match(rows[firstHalf + 2]!, /class="ev sent".*<code class="hex">00 02<\/code>/);
    assert.match(
      timeline,
      /class="ev received".*server → checker.*<code class="hex">41<\/code> <code class="txt">A<\/code>/,
    );
    assert.match(timeline, /class="ev connect"/);
  });

  test('HTML: the class at a glance links each submission page; the pages escape what the server printed', () => {
    const subs = [graded('alice', good), graded('bob', flawed)];
    const index = classIndexHtml({
      command: 'python3 {file}',
      isolation: 'ports',
      jobs: 1,
      timeLimitMs: 120_000,
      startedAt: good.startedAt,
      ms: 1234,
      submissions: subs,
    });
    assert.match(index, /^<!DOCTYPE html>/);
    assert.ok(index.includes('href="alice/index.html"') && index.includes('href="bob/index.html"'));
    assert.ok(!/<script/i.test(index));
    for (const c of good.checks) assert.ok(index.includes(`>${c.name}`), c.name);
    assert.ok(index.includes(`<td class="score">${subs[1]!.score}/${subs[1]!.maxScore}</td>`), 'the score column');
    const page = submissionHtml(subs[1]!);
    assert.ok(page.includes('Listening on port 12100 &lt;&amp; &quot;quoted&quot;&gt;'));
    assert.ok(!page.includes('<& "quoted">'));
    for (const c of flawed.checks) assert.ok(page.includes(`id="${c.name}"`), c.name);
    const firstFailed = flawed.checks.find((c) => c.required && c.status === 'fail')!;
    assert.ok(page.includes(`Fix first: <a href="#${firstFailed.name}">`));
  });
});
