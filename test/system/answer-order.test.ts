// A's meaning judged by the order of the server's system calls (strace): a server that sends A,
// then writes k.txt at once (microseconds later) fails on every run, a correct one passes on
// every run, whatever its language (Python, C with stdio, Java); without a trace the check says
// it judged by timing only; and grading the same class three times gives the same grades.
// Needs strace (and gcc, a JDK for the C and Java servers).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gradeClass } from '../../src/check/grade/grade.js';
import { straceProblem, SyscallTracer } from '../../src/check/trace/index.js';
import { checkServer } from '../../src/check/server-checks.js';
import { writeClass } from '../check/grade-fixtures/class.js';
import { descendants, restartCmd } from '../check/lab-support.js';
import { freePort, HOST, removeDir, ROOT, tempDir } from '../support.js';

const RUNS = 20;
const SERVERS = join(ROOT, 'test/check/servers');

/** Whether a command runs here (`gcc --version`). */
function has(cmd: string): boolean {
  try {
    execFileSync(cmd, ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    try {
      execFileSync(cmd, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * `stored-before-answer` alone, `RUNS` times, against the server `command(dir, port, flaw)` started traced: every
 * status and what it saw.
 */
async function runs(
  command: (dir: string, port: number, flaw: string) => string,
  flaw: string,
  traced = true,
): Promise<{ status: string; seen: string; evidence?: string; notes: string[] }[]> {
  const port = await freePort();
  const dir = await tempDir();
  const out = [];
  try {
    for (let i = 0; i < (traced ? RUNS : 1); i++) {
      const tracer = traced ? await SyscallTracer.create() : undefined;
      try {
        const report = await checkServer({
          host: HOST,
          port,
          dir,
          restartCmd: command(dir, port, flaw),
          timeoutMs: 3000,
          only: ['stored-before-answer'],
          ...(tracer ? { wrapServer: tracer.wrap, order: tracer } : {}),
        });
        const check = report.checks.find((c) => c.name === 'stored-before-answer')!;
        out.push({
          status: check.status,
          seen: check.seen,
          notes: check.notes,
          ...(check.evidence ? { evidence: check.evidence } : {}),
        });
      } finally {
        await tracer?.close();
      }
    }
  } finally {
    await removeDir(dir);
  }
  return out;
}

function expectAll(
  results: { status: string; seen: string; evidence?: string }[],
  want: 'pass' | 'fail',
  what: string,
): void {
  assert.equal(results.length, RUNS);
  for (const [i, r] of results.entries()) {
    assert.equal(r.status, want, `${what}, run ${i + 1}: ${r.seen}`);
    assert.equal(r.evidence, 'order', `${what}, run ${i + 1}: judged by ${r.evidence}`);
  }
  if (want === 'fail')
    assert.match(
      results[0]!.seen,
      /A 1 was sent before the message was stored: 1\.txt was written \(\d+ bytes\) only after it/,
    );
  else assert.match(results[0]!.seen, /1\.txt was written \(\d+ bytes\) before A 1 was sent/);
}

describe('A after storing, seen in the order of system calls', async () => {
  const problem = await straceProblem();
  const python = (dir: string, port: number, flaw: string): string => restartCmd(dir, port, flaw);

  test(`Python: "A, then write at once" fails ${RUNS} of ${RUNS} runs, a correct server passes ` +
    `${RUNS} of ${RUNS}`, { skip: problem }, async () => {
    expectAll(await runs(python, 'write-after-a'), 'fail', 'A then write');
    expectAll(await runs(python, ''), 'pass', 'correct');
    assert.deepEqual(descendants(), []);
  });

  test(`C (stdio, flushed at fclose): the same, ${RUNS} of ${RUNS} each way`, {
    skip: problem ?? (has('gcc') ? undefined : 'no gcc'),
  }, async () => {
    const bin = await tempDir();
    try {
      execFileSync('gcc', ['-O', '-o', join(bin, 'lab'), join(SERVERS, 'lab.c')]);
      const c = (dir: string, port: number, flaw: string): string =>
        `cd '${dir}' && exec '${join(bin, 'lab')}' ${port} ${flaw}`;
      expectAll(await runs(c, 'write-after-a'), 'fail', 'C, A then write');
      expectAll(await runs(c, ''), 'pass', 'C, correct');
    } finally {
      await removeDir(bin);
    }
  });

  test(`Java (threads of a JVM): the same, ${RUNS} of ${RUNS} each way`, {
    skip: problem ?? (has('javac') ? undefined : 'no JDK (Debian: default-jdk-headless)'),
  }, async () => {
    const bin = await tempDir();
    try {
      execFileSync('javac', ['-d', bin, join(SERVERS, 'Lab.java')]);
      const java = (dir: string, port: number, flaw: string): string =>
        `cd '${dir}' && exec java -Xshare:auto -XX:TieredStopAtLevel=1 -cp '${bin}' Lab ${port} ${flaw}`;
      expectAll(await runs(java, 'write-after-a'), 'fail', 'Java, A then write');
      expectAll(await runs(java, ''), 'pass', 'Java, correct');
    } finally {
      await removeDir(bin);
    }
  });

  test('without a trace, the check says it judged by timing only', async () => {
    const [r] = await runs(python, 'late-write', false);
    assert.equal(r!.status, 'fail', r!.seen);
    assert.equal(r!.evidence, 'timing');
    assert.ok(
      r!.notes.some((n) => /judged by timing only .*a file stored microseconds after its A can pass/.test(n)),
      r!.notes.join(' / '),
    );
  });

  test('grading the same class three times: the same verdicts and failed checks in grades.csv', {
    skip: problem,
  }, async () => {
    const work = await tempDir();
    try {
      const subs = join(work, 'subs');
      execFileSync('mkdir', ['-p', subs]);
      await writeClass(subs, { ok: '', answers_first: 'write-after-a', appends: 'append' });
      const tables: string[][] = [];
      for (let i = 0; i < 3; i++) {
        const out = join(work, `out-${i}`);
        await gradeClass({
          paths: [subs],
          command: "printf '2\\n' | python3 {file}",
          out,
          quick: true,
          timeoutMs: 2000,
          timeLimitMs: 600_000,
          jobs: 2,
        });
        const csv = (await readFile(join(out, 'grades.csv'), 'utf8')).trim().split('\r\n');
        const head = csv[0]!.split(',');
        const v = head.indexOf('verdict');
        const f = head.indexOf('failed_checks');
        tables.push(
          csv.slice(1).map((line) => {
            const cells = line.split(',');
            return `${cells[0]} ${cells[v]} ${cells[f]}`;
          }),
        );
        const report = await readFile(join(out, 'answers_first', 'report.txt'), 'utf8');
        assert.match(
          report,
          /A's order against the storing of k\.txt was seen in the server's system calls \(strace\)/,
        );
      }
      assert.deepEqual(tables[1], tables[0]);
      assert.deepEqual(tables[2], tables[0]);
      assert.deepEqual(tables[0], ['answers_first fail stored-before-answer', 'appends fail overwrite', 'ok pass ']);
    } finally {
      await removeDir(work);
    }
  });
});
