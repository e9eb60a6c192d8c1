// `npm run bench:grade`: `linedrop grade` on a class of 30 lab servers, timed. The class is made
// of copies of the lab-style server the checker's tests use (test/check/servers/tcp.py: one
// connection then exit, recv(1), listen(1), no SO_REUSEADDR), most correct, some with one of the
// flaws students' servers have. The goal: the class graded in under 3 minutes on a 2-core machine.
//
//   npm run bench:grade                       the default: --jobs = the number of cores
//   npm run bench:grade -- --jobs 6           more at once (the work is mostly waiting)
//   npm run bench:grade -- --isolation none   one after another, each on a port of its own
//   npm run bench:grade -- --count 10         a smaller class
//
// Prints each submission as it is graded (grade's own progress), then the time and whether every
// verdict is the expected one; exits 1 when one is not (the time would then mean nothing).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Member, writeClass } from '../test/check/grade-fixtures/class.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/linedrop.js');
const GOAL_S = 180;
/** Flaws the lab server can be given (LAB_FLAW), in turn, to every third submission; the rest are correct. */
const FLAWS: Member[] = ['late-write', 'append', 'no-q', 'a-newline', 'spin', 'crash-utf8'];
/** A server that spins after a client vanished fails only a check beyond the handout: it passes. */
const VERDICT: Record<string, string> = { spin: 'pass' };

interface Options {
  count: number;
  jobs?: number;
  isolation: string;
}

function parse(argv: string[]): Options {
  const o: Options = { count: 30, isolation: 'auto' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag}: a value is missing`);
    if (flag === '--count') o.count = Number(value);
    else if (flag === '--jobs') o.jobs = Number(value);
    else if (flag === '--isolation') o.isolation = value;
    else throw new Error(`unknown argument ${flag} (--count N, --jobs N, --isolation auto|netns|none)`);
  }
  if (!Number.isInteger(o.count) || o.count < 1) throw new Error('--count: a whole number >= 1');
  return o;
}

/** The class: every third submission has one of the flaws in turn; the verdict each must get. */
async function makeClass(dir: string, count: number): Promise<Map<string, string>> {
  const expected = new Map<string, string>();
  const members: Record<string, Member> = {};
  for (let i = 0; i < count; i++) {
    const flaw = i % 3 === 2 ? FLAWS[Math.floor(i / 3) % FLAWS.length]! : '';
    const name = `student${String(i + 1).padStart(2, '0')}${flaw ? `-${flaw}` : ''}`;
    members[name] = flaw;
    expected.set(name, flaw ? (VERDICT[flaw] ?? 'fail') : 'pass');
  }
  await writeClass(dir, members);
  return expected;
}

function run(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const tmp = await mkdtemp(join(tmpdir(), 'linedrop-bench-grade-'));
  try {
    const cls = join(tmp, 'class');
    const out = join(tmp, 'grades');
    await mkdir(cls);
    const expected = await makeClass(cls, o.count);
    const flawed = [...expected.keys()].filter((name) => name.includes('-')).length;
    const command = o.isolation === 'none' ? "printf '2\\n' | exec python3 {file} {port}" : "printf '2\\n' | exec python3 {file}";
    process.stderr.write(
      `bench:grade: ${o.count} lab servers (${o.count - flawed} correct, ${flawed} flawed), ${cpus().length} cores, jobs ${o.jobs ?? `default (${availableParallelism()})`}, isolation ${o.isolation}\n`,
    );
    const args = ['grade', cls, '--cmd', command, '--out', out, '--isolation', o.isolation, ...(o.jobs ? ['--jobs', String(o.jobs)] : [])];
    const started = process.hrtime.bigint();
    const code = await run(args);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (code !== 0) throw new Error(`linedrop grade exited with status ${code}`);
    const rows = (await readFile(join(out, 'grades.csv'), 'utf8'))
      .trim()
      .split(/\r?\n/)
      .slice(1)
      .map((l) => l.split(','));
    const wrong = rows
      .filter(([name, verdict]) => expected.get(name!) !== verdict)
      .map(([name, verdict]) => `${name}: ${verdict}, expected ${expected.get(name!)}`);
    console.log(`\n${o.count} lab servers graded in ${seconds.toFixed(1)} s (goal: under ${GOAL_S} s: ${seconds < GOAL_S ? 'met' : 'NOT met'})`);
    console.log(`  node bin/linedrop.js ${args.map((a) => (/^[\w./{}-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ')}`);
    const passes = [...expected.values()].filter((v) => v === 'pass').length;
    console.log(
      wrong.length === 0 ? `  every verdict as expected (${passes} pass, ${o.count - passes} fail)` : `  unexpected verdicts:\n    ${wrong.join('\n    ')}`,
    );
    process.exitCode = wrong.length === 0 ? 0 : 1;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:grade: ${(e as Error).message}\n`);
  process.exit(1);
});
