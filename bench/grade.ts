// `npm run bench:grade`: `linedrop grade` on a class of 30 lab servers, timed. The class is made
// of copies of the lab-style server the checker's tests use (test/check/servers/tcp.py: one
// connection then exit, recv(1), listen(1), no SO_REUSEADDR), as a class has them: most correct,
// every third one with a flaw students' servers have, among them a correct server that sleeps 1 s
// after Q before it closes, one that never starts, and one that changed the port to 12222. The
// goal: the class graded in under 3 minutes on a 2-core machine.
//
//   npm run bench:grade                       the default: --jobs = the number of cores
//   npm run bench:grade -- --jobs 6           more at once (the work is mostly waiting)
//   npm run bench:grade -- --isolation none   one after another, each on a port of its own
//   npm run bench:grade -- --count 10         a smaller class
//   npm run bench:grade -- --quick            grade with --quick (only the handout's checks)
//   npm run bench:grade -- --keep DIR         keep the class and its reports in DIR
//
// Prints each submission as it is graded (grade's own progress), then the whole time against the
// goal (met or missed), the jobs used, the load average before and after (the machine may be
// shared), each submission's time, and where the time went (each check's time summed over the
// class, and the server's starts). Exits 1 when a verdict is not the expected one (the time would
// then mean nothing).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GradedSubmission } from '../src/check/grade/types.js';
import { type Member, writeClass } from '../test/check/grade-fixtures/class.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/linedrop.js');
const GOAL_S = 180;
/** What every third submission has, in turn; the rest are correct. */
const FLAWS: Member[] = [
  'late-write',
  'sleep-after-q',
  'append',
  'no-start',
  'no-q',
  'other-port',
  'a-newline',
  'spin',
  'crash-utf8',
];
/**
 * The verdicts each may get (the first is the right one). A server that spins after a client
 * vanished fails only a check beyond the handout, and one that sleeps after Q is correct: both
 * pass. A server on another port passes once grade finds the port it listens on; until then it
 * is reported as not started (in --isolation none every server is given its port anyway).
 */
const VERDICTS: Partial<Record<Member, string[]>> = {
  '': ['pass'],
  spin: ['pass'],
  'sleep-after-q': ['pass'],
  'no-start': ['no-start'],
  'other-port': ['pass', 'no-start'],
};

interface Options {
  count: number;
  jobs?: number;
  isolation: string;
  quick: boolean;
  keep?: string;
}

function parse(argv: string[]): Options {
  const o: Options = { count: 30, isolation: 'auto', quick: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--quick') {
      o.quick = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag}: a value is missing`);
    if (flag === '--count') o.count = Number(value);
    else if (flag === '--jobs') o.jobs = Number(value);
    else if (flag === '--isolation') o.isolation = value;
    else if (flag === '--keep') o.keep = resolve(value);
    else
      throw new Error(
        `unknown argument ${flag} (--count N, --jobs N, --isolation auto|netns|none, --quick, --keep DIR)`,
      );
  }
  if (!Number.isInteger(o.count) || o.count < 1) throw new Error('--count: a whole number >= 1');
  return o;
}

/** The class: every third submission has one of FLAWS in turn; the verdicts each may get. */
async function makeClass(dir: string, count: number): Promise<Map<string, string[]>> {
  const expected = new Map<string, string[]>();
  const members: Record<string, Member> = {};
  for (let i = 0; i < count; i++) {
    const flaw = i % 3 === 2 ? FLAWS[Math.floor(i / 3) % FLAWS.length]! : '';
    const name = `student${String(i + 1).padStart(2, '0')}${flaw ? `-${flaw}` : ''}`;
    members[name] = flaw;
    expected.set(name, VERDICTS[flaw] ?? ['fail']);
  }
  await writeClass(dir, members);
  return expected;
}

/** Runs linedrop, its standard error shown as it comes and kept. */
function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      process.stderr.write(c);
      stderr += c.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => done({ code: code ?? 1, stderr }));
  });
}

const load = (): string =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(', ');

async function graded(out: string): Promise<GradedSubmission[]> {
  const subs: GradedSubmission[] = [];
  for (const entry of (await readdir(out, { withFileTypes: true })).filter(
    (e) => e.isDirectory() && !e.name.startsWith('.'),
  )) {
    subs.push(JSON.parse(await readFile(join(out, entry.name, 'report.json'), 'utf8')) as GradedSubmission);
  }
  return subs.sort((a, b) => (a.name < b.name ? -1 : 1));
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const tmp = o.keep ?? (await mkdtemp(join(tmpdir(), 'linedrop-bench-grade-')));
  try {
    const cls = join(tmp, 'class');
    const out = join(tmp, 'grades');
    await rm(cls, { recursive: true, force: true });
    await rm(out, { recursive: true, force: true });
    await mkdir(cls, { recursive: true });
    const expected = await makeClass(cls, o.count);
    const flawed = [...expected.keys()].filter((name) => name.includes('-')).length;
    // In network namespaces, the template's way (no --cmd); one after another, each server is given its port.
    const command = o.isolation === 'none' ? ['--cmd', "printf '2\\n' | exec python3 {file} {port}"] : [];
    const loadBefore = load();
    process.stderr.write(
      `bench:grade: ${o.count} lab servers (${o.count - flawed} correct, ${flawed} with a flaw or an edit), ${cpus().length} cores, jobs ${o.jobs ?? `default (${availableParallelism()})`}, isolation ${o.isolation}${o.quick ? ', --quick' : ''}; load average ${loadBefore}\n`,
    );
    const args = [
      'grade',
      cls,
      ...command,
      '--out',
      out,
      '--isolation',
      o.isolation,
      ...(o.jobs ? ['--jobs', String(o.jobs)] : []),
      ...(o.quick ? ['--quick'] : []),
    ];
    const started = process.hrtime.bigint();
    const { code, stderr } = await run(args);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const loadAfter = load();
    if (code !== 0) throw new Error(`linedrop grade exited with status ${code}`);
    const subs = await graded(out);
    const jobs = /(\d+) at a time/.exec(stderr)?.[1] ?? (/one after another/.test(stderr) ? '1' : '?');
    const met = seconds < GOAL_S;
    console.log(
      `\n${o.count} lab servers graded in ${seconds.toFixed(1)} s with ${jobs} ` +
        `job${jobs === '1' ? '' : 's'}: goal under ${GOAL_S} s ${met ? 'met' : 'MISSED'}`,
    );
    console.log(`  load average (1, 5, 15 min) before ${loadBefore}, after ${loadAfter}; ${cpus().length} cores`);
    console.log(
      `  node bin/linedrop.js ${args.map((a) => (/^[\w./{}-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ')}`,
    );

    console.log('\nEach submission (slowest first):');
    for (const s of [...subs].sort((a, b) => b.ms - a.ms)) {
      const starts = s.report?.summary.restarts ?? 0;
      const skipped = s.report?.checks.filter((c) => c.required && c.status === 'skip').map((c) => c.name) ?? [];
      console.log(
        `  ${s.name.padEnd(28)} ${s.verdict.padEnd(9)} ${(s.ms / 1000).toFixed(1).padStart(6)} s  ${String(starts).padStart(2)} starts${skipped.length ? `  required not run: ${skipped.join(' ')}` : ''}`,
      );
    }
    // Where the time goes: each check's time summed over the class, and the rest (starting the
    // servers, stopping them, the checker's own start).
    const perCheck = new Map<string, number>();
    let inChecks = 0;
    let total = 0;
    for (const s of subs) {
      total += s.ms;
      for (const c of s.report?.checks ?? []) {
        perCheck.set(c.name, (perCheck.get(c.name) ?? 0) + c.ms);
        inChecks += c.ms;
      }
    }
    console.log(
      `\nWhere the time goes (summed over the class: ${(total / 1000).toFixed(1)} s of grading, ` +
        `${(total / 1000 / seconds).toFixed(1)} at a time on average):`,
    );
    for (const [name, ms] of [...perCheck].sort((a, b) => b[1] - a[1])) {
      console.log(
        `  ${name.padEnd(22)} ${(ms / 1000).toFixed(1).padStart(7)} s  ` +
          `${((100 * ms) / total).toFixed(0).padStart(3)} %  (${(ms / subs.length / 1000).toFixed(2)} s a submission)`,
      );
    }
    console.log(
      `  ${'outside the checks'.padEnd(22)} ${((total - inChecks) / 1000).toFixed(1).padStart(7)} ` +
        `s  ${((100 * (total - inChecks)) / total).toFixed(0).padStart(3)} %  (the checker's start, ` +
        `the servers' first start and the stop)`,
    );

    const wrong = subs
      .filter((s) => !expected.get(s.name)?.includes(s.verdict))
      .map((s) => `${s.name}: ${s.verdict}, expected ${expected.get(s.name)?.join(' or ')}`);
    const right = subs.filter((s) => expected.get(s.name)?.[0] === s.verdict).length;
    const other = subs.filter((s) => s.name.endsWith('-other-port')).map((s) => s.verdict);
    console.log(
      wrong.length === 0
        ? `\nEvery verdict as expected (${right} of ${subs.length} the right ` +
            `one${other.includes('no-start') ? '; the server on port 12222 was not found: DID NOT START' : ''})`
        : `\nUnexpected verdicts:\n  ${wrong.join('\n  ')}`,
    );
    if (subs.length !== o.count) console.log(`Only ${subs.length} of ${o.count} submissions were reported`);
    if (o.keep) console.log(`The class and its reports: ${tmp}`);
    process.exitCode = wrong.length === 0 && subs.length === o.count ? 0 : 1;
  } finally {
    if (!o.keep) await rm(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:grade: ${(e as Error).message}\n`);
  process.exit(1);
});
