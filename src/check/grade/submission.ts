// Grading one submission: a working folder of its own, the server started by the teacher's
// command (its output kept in server.log), the checker run as a child process (inside a network
// namespace of its own where there is one), a time limit, and the submission's report files.
import { spawn } from 'node:child_process';
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { submissionHtml } from '../reporters/html.js';
import { submissionJson } from '../reporters/json.js';
import { serverReportText } from '../reporters/text.js';
import { scoreOf, type Points } from '../score.js';
import { SERVER_CHECKS } from '../server-checks.js';
import { fillCommand, usesPort } from './command.js';
import { inNamespace, type Namespaces } from './isolation.js';
import { limitsReached, SANDBOX_USER, type SandboxLimits, type SandboxSpec } from '../sandbox/index.js';
import type { Submission } from './submissions.js';
import type { GradedSubmission, Verdict } from './types.js';
import type { WorkerOptions, WorkerOutput } from './worker.js';
import { freePort } from '../../net-address.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));
/** After the time limit: how long the checker has to stop the server and report before it is killed. */
const KILL_GRACE_MS = 15_000;
const TAIL_LINES = 15;
const TAIL_BYTES = 4096;

export interface SubmissionOptions {
  /** Shell command with `{file}` (the submission's copy), `{dir}` (its working folder), `{port}`. */
  command: string;
  out: string;
  /** Network namespaces to run in, or null: then the server gets a free port through `{port}`. */
  namespaces: Namespaces | null;
  /** The sandbox every start of the server runs in, or null (`--sandbox none`). */
  sandbox: GradeSandbox | null;
  /** The port the server listens on when `{port}` is not in the command (the lab's 12100). */
  port: number;
  timeLimitMs: number;
  /** Passed on to the checker. */
  timeoutMs?: number;
  quick?: boolean;
  /** Passed on to the checker: the port check is required. */
  requirePort?: boolean;
  signal?: AbortSignal;
  /** Points per check (`--points`); a point per required check when not given. */
  points?: Points;
  /** Said in the report beside the command, e.g. that it is the template's way because no --cmd was given. */
  commandNote?: string;
}

/** A class's sandbox: the bwrap program, the limits, and the folders hidden from every submission. */
export interface GradeSandbox {
  bwrap: string;
  limits: SandboxLimits;
  hidden: string[];
}

/** Gives a folder and everything in it to the sandbox's user (as root, the sandbox runs as nobody). */
async function giveTo(path: string, user: { uid: number; gid: number }): Promise<void> {
  await chown(path, user.uid, user.gid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await giveTo(child, user);
    else await chown(child, user.uid, user.gid);
  }
}

/**
 * Copies a staged working folder and log into the submission's folder, then removes the stage.
 * What the server left there is copied as it is: files, folders and links (not followed); sockets,
 * pipes and devices are left out.
 */
async function unstage(stage: string, work: string, log: string, folder: string): Promise<string | undefined> {
  const copyable = async (path: string): Promise<boolean> => {
    const info = await lstat(path).catch(() => undefined);
    return info !== undefined && (info.isFile() || info.isDirectory() || info.isSymbolicLink());
  };
  try {
    await cp(work, join(folder, 'work'), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (source) => copyable(source),
    });
    await cp(log, join(folder, 'server.log'));
    return undefined;
  } catch (e) {
    return `its working folder could not be copied into the report folder: ${(e as Error).message}`;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** The last lines of a file (at most a few KiB), or '' when there is none. */
export async function lastLines(path: string, lines = TAIL_LINES): Promise<string> {
  let text: string;
  try {
    text = (await readFile(path)).subarray(-TAIL_BYTES).toString('utf8');
  } catch {
    return '';
  }
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

interface ChildResult {
  stdout: string;
  stderr: string;
  code: number | null;
  killed: boolean;
}

function runChecker(
  argv: string[],
  cwd: string,
  limitMs: number,
  signal: AbortSignal | undefined,
): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-TAIL_BYTES)));
    const kill = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        // Already gone.
      }
    };
    const hard = setTimeout(() => {
      killed = true;
      kill('SIGKILL');
    }, limitMs + KILL_GRACE_MS);
    const onAbort = (): void => kill('SIGTERM');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (e) => {
      stderr += `cannot run ${argv[0]}: ${e.message}`;
    });
    child.once('close', (code) => {
      clearTimeout(hard);
      signal?.removeEventListener('abort', onAbort);
      resolve({ stdout, stderr, code, killed });
    });
  });
}

/** `text` with the command the checker ran (`wrapped`) shown as the one the teacher gave (`plain`). */
function unwrap(text: string, wrapped: string, plain: string): string {
  if (text === wrapped) return plain;
  return text.includes(wrapped) || text.includes(JSON.stringify(wrapped))
    ? text.split(JSON.stringify(wrapped)).join(JSON.stringify(plain)).split(wrapped).join(plain)
    : text;
}

function verdictOf(out: WorkerOutput): Verdict {
  const { summary } = out.report;
  if (!summary.reachable) return 'no-start';
  if (out.timedOut) return 'timeout';
  if (summary.required.failed > 0) return 'fail';
  // A required check that was skipped or could not run is never counted as passed.
  if (summary.exitCode !== 0) return 'incomplete';
  return 'pass';
}

/** Grades one submission and writes `<out>/<name>/`: report.txt, report.json, index.html, server.log. */
export async function gradeSubmission(sub: Submission, options: SubmissionOptions): Promise<GradedSubmission> {
  const started = Date.now();
  const folder = join(options.out, sub.name);
  await rm(folder, { recursive: true, force: true });
  await mkdir(folder, { recursive: true });
  // As root, the sandbox runs as nobody, who may not reach the output folder (/root is private):
  // the submission then works in a folder of its own under the system's temporary folder, copied
  // into the output folder when it is graded.
  const user = options.sandbox && process.getuid?.() === 0 ? SANDBOX_USER : undefined;
  const stage = user ? await mkdtemp(join(tmpdir(), 'linedrop-sandbox-')) : undefined;
  if (stage) await chmod(stage, 0o711);
  const work = join(stage ?? folder, 'work');
  const log = join(stage ?? folder, 'server.log');
  await mkdir(work, { recursive: true });
  const file = sub.kind === 'file' ? join(work, basename(sub.source)) : work;
  await cp(sub.source, file, { recursive: true });
  await writeFile(log, '');
  if (user) {
    await giveTo(work, user);
    await chown(log, user.uid, user.gid);
  }
  const sandbox: SandboxSpec | undefined = options.sandbox
    ? {
        kind: 'bwrap',
        bwrap: options.sandbox.bwrap,
        writable: [work],
        writableFiles: [log],
        hidden: options.sandbox.hidden,
        limits: options.sandbox.limits,
        log,
        ...(user ? { user } : {}),
      }
    : undefined;
  const port = options.namespaces === null && usesPort(options.command) ? await freePort() : options.port;
  const command = fillCommand(options.command, { file, dir: work, port });
  const worker: WorkerOptions = {
    host: '127.0.0.1',
    port,
    dir: work,
    restartCmd: command,
    // The server's output goes to server.log, start by start, for the teacher (and per start into the report).
    serverLog: log,
    // In its network namespace, every listening socket is the server's.
    ...(options.namespaces ? { ownNetwork: true } : {}),
    ...(options.requirePort ? { requirePort: true } : {}),
    deadlineMs: options.timeLimitMs,
    ...(sandbox ? { sandbox } : {}),
    trace: true,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.quick ? { quick: true } : {}),
  };
  const argv = [process.execPath, WORKER, JSON.stringify(worker)];
  const child = await runChecker(
    options.namespaces ? inNamespace(options.namespaces, argv) : argv,
    work,
    options.timeLimitMs,
    options.signal,
  );
  const limits = options.sandbox
    ? limitsReached(await readFile(log, 'utf8').catch(() => ''), options.sandbox.limits)
    : [];
  const unstaged = stage ? await unstage(stage, work, log, folder) : undefined;
  let parsed: WorkerOutput | undefined;
  try {
    // The report names the command as the teacher wrote it, not with the redirection to server.log.
    parsed = JSON.parse(child.stdout, (_, value: unknown) =>
      typeof value === 'string' ? unwrap(value, worker.restartCmd!, command) : value,
    ) as WorkerOutput;
  } catch {
    parsed = undefined;
  }
  // The last lines of the server's last start that printed anything (server.log has every start).
  const lastOutput = [...(parsed?.report.serverStarts ?? [])].reverse().find((r) => r.output.trim() !== '')?.output;
  const outputTail =
    lastOutput !== undefined ? lastOutput.trimEnd().split('\n').slice(-TAIL_LINES).join('\n') : await lastLines(log);
  const result: GradedSubmission = {
    name: sub.name,
    source: sub.source,
    verdict: parsed ? verdictOf(parsed) : child.killed ? 'timeout' : 'error',
    report: parsed?.report ?? null,
    outputTail,
    port,
    command,
    ...(options.commandNote ? { commandNote: options.commandNote } : {}),
    ...scoreOf(parsed?.report ?? null, options.points ?? {}, SERVER_CHECKS),
    sandbox: options.sandbox ? 'bwrap' : 'none',
    limits,
    startedAt: new Date(started).toISOString(),
    ms: Date.now() - started,
  };
  const answerOrder = answerOrderOf(parsed);
  if (answerOrder) result.answerOrder = answerOrder;
  const problem = [problemOf(result, parsed, child, options.timeLimitMs), ...limits, unstaged]
    .filter(Boolean)
    .join('; ');
  if (problem) result.problem = problem;
  await writeSubmissionFiles(folder, result);
  return result;
}

function problemOf(
  s: GradedSubmission,
  parsed: WorkerOutput | undefined,
  child: ChildResult,
  limitMs: number,
): string | undefined {
  const limit = `${Math.round(limitMs / 1000)} s`;
  switch (s.verdict) {
    case 'no-start': {
      const last = s.outputTail.split('\n').at(-1)?.trim();
      if (s.report?.bindFailure)
        return `${s.report.bindFailure.text}${last ? `; its last line of output: ${last}` : ''}`;
      return `the server never accepted a connection on port ${s.port}; ${last ? `its last line of output: ${last}` : 'it printed nothing'}`;
    }
    case 'timeout':
      return parsed
        ? `the time limit (${limit}) stopped the checks; the checks that ran are reported`
        : `the checker did not finish within the time limit (${limit}) and was stopped`;
    case 'error':
      return (
        `the checker could not run (exit status ${child.code ?? 'none'}): ` +
        `${child.stderr.trim().split('\n').slice(-3).join(' ') || 'it printed nothing'}`
      );
    case 'incomplete':
      return incompleteProblem(s);
    default:
      return s.report?.summary.interrupted
        ? 'interrupted before every check ran; the checks that ran are reported'
        : undefined;
  }
}

/** Which required checks did not run to a verdict, and why, in words. */
function incompleteProblem(s: GradedSubmission): string {
  const notRun = (s.report?.checks ?? []).filter(
    (r) => r.required && r.status === 'skip' && r.skipReason !== 'not-selected' && r.skipReason !== 'needs-dir',
  );
  const why = notRun.map((r) => `${r.name} (${r.seen.split('; statuses ')[0]})`).join('; ');
  const gone = s.report?.error ? `; ${s.report.error}` : '';
  return (
    `not a pass: ${notRun.length} required check${notRun.length === 1 ? '' : 's'} did not run ` +
    `to a verdict: ${why || 'see the report'}${gone}`
  );
}

/** How the check of A's meaning judged the order, in words (undefined when it did not judge it). */
function answerOrderOf(parsed: WorkerOutput | undefined): string | undefined {
  const check = parsed?.report.checks.find((r) => r.evidence !== undefined);
  if (!check) return undefined;
  if (check.evidence === 'order')
    return (
      "A's order against the storing of k.txt was seen in the " +
      "server's system calls (strace): the same verdict on every run"
    );
  const why =
    parsed?.traceProblem ??
    check.notes.find((n) => n.startsWith('judged by timing only'))?.split('could not be seen: ')[1];
  return `A's order against the storing of k.txt was judged by timing only (a file stored microseconds after its A can pass)${why ? `: ${why}` : ''}`;
}

/** report.txt: the checker's text report, after the submission's own lines. */
function submissionText(s: GradedSubmission): string {
  let out = `Submission ${s.name} (${s.source}): ${s.verdict.toUpperCase()}\n`;
  out += `Started with: ${s.command}${s.commandNote ? ` (${s.commandNote})` : ''}\n`;
  out += `Score: ${s.score} of ${s.maxScore}\n`;
  if (s.sandbox)
    out += `Sandbox: ${s.sandbox === 'bwrap' ? 'bubblewrap' : 'none (the server ran unconfined, as the user running linedrop)'}\n`;
  if (s.limits?.length) out += `Limits reached: ${s.limits.join('; ')}\n`;
  if (s.problem) out += `${s.problem}\n`;
  if (s.answerOrder) out += `${s.answerOrder}\n`;
  if (s.outputTail) out += `\nThe server's last lines of output:\n${s.outputTail.replace(/^/gm, '  | ')}\n`;
  if (s.report) out += `\n${serverReportText(s.report)}`;
  for (const r of s.report?.serverStarts ?? []) {
    const end = r.crash ?? (r.stoppedByChecker ? 'stopped by the checker' : (r.exit ?? 'still running'));
    out += `\nStart ${r.start} of the server (for ${r.checks.join(', ') || 'no check'}): ${end}\n`;
    if (r.crash && r.output.trim())
      out += `${r.output.trimEnd().split('\n').slice(-TAIL_LINES).join('\n').replace(/^/gm, '  | ')}\n`;
  }
  return out;
}

async function writeSubmissionFiles(folder: string, s: GradedSubmission): Promise<void> {
  await writeFile(join(folder, 'report.txt'), submissionText(s));
  await writeFile(join(folder, 'report.json'), submissionJson(s));
  await writeFile(join(folder, 'index.html'), submissionHtml(s));
}
