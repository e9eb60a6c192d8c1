// `linedrop grade`: a whole class. Each submission is graded in a working folder of its own;
// in parallel where network namespaces keep them apart, one after another elsewhere. Writes the
// class's files: grades.csv, junit.xml, index.html, and each submission's folder.
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { availableParallelism, homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAB_PORT } from '../client-checker.js';
import { gradesCsv } from '../reporters/csv.js';
import { classIndexHtml } from '../reporters/html.js';
import { junitXml } from '../reporters/junit.js';
import { DEFAULT_LIMITS, existingFolders, findSandbox, limitsText, mayHide, type SandboxLimits, type SandboxMode } from '../sandbox/index.js';
import { findNamespaces, inNamespace, type Namespaces } from './isolation.js';
import { gradeSubmission, type GradeSandbox } from './submission.js';
import { findSubmissions, type Submission } from './submissions.js';
import type { ClassReport, GradedSubmission } from './types.js';

export const DEFAULT_TIME_LIMIT_MS = 120_000;

export interface GradeOptions {
  /** A folder of submissions (each entry is one), or the submissions' files and folders. */
  paths: readonly string[];
  /** Shell command that starts a server: `{file}` the submission's copy, `{dir}` its working folder, `{port}` the port. */
  command: string;
  /** Where the reports go (created). */
  out: string;
  /** Submissions graded at once in network namespaces (default: the number of cores). */
  jobs?: number;
  /** Longest time for one submission (default 120 s). */
  timeLimitMs?: number;
  /** The port the servers listen on when the command has no `{port}` (default 12100). */
  port?: number;
  /** `auto` (default): namespaces where they can be made; `none`: one after another on ports of their own; `netns`: namespaces or an error. */
  isolation?: 'auto' | 'none' | 'netns';
  /** `auto` (default) and `bwrap`: each server in a bubblewrap sandbox, refused (NoSandbox) where none can be made; `none`: unconfined. */
  sandbox?: SandboxMode;
  /** The sandbox's limits (DEFAULT_LIMITS for those not given). */
  limits?: Partial<SandboxLimits>;
  /** Passed on to the checker: the longest wait for each answer. */
  timeoutMs?: number;
  /** Passed on to the checker: only the handout's checks, a shorter template pause. */
  quick?: boolean;
  /** Called before grading starts, with the plan. */
  onStart?: (plan: { submissions: readonly Submission[]; namespaces: Namespaces | null; jobs: number; sandbox: GradeSandbox | null }) => void;
  /** Called as each submission is done (in the order they finish). */
  onGraded?: (result: GradedSubmission, done: number, total: number) => void;
  signal?: AbortSignal;
}

export class NoNamespaces extends Error {
  override readonly name = 'NoNamespaces';
}

/** Grades the class and writes its files; the result is in the submissions' order. */
export async function gradeClass(options: GradeOptions): Promise<ClassReport> {
  const started = Date.now();
  const out = resolve(options.out);
  const submissions = await findSubmissions(options.paths, [out]);
  const isolation = options.isolation ?? 'auto';
  const namespaces = isolation === 'none' ? null : await findNamespaces();
  if (isolation === 'netns' && namespaces === null) {
    throw new NoNamespaces('network namespaces cannot be made here (Linux, and root or unprivileged user namespaces, and unshare from util-linux are needed)');
  }
  const bwrap = await findSandbox(options.sandbox ?? 'auto', namespaces ? (argv) => inNamespace(namespaces, argv) : undefined);
  const limits: SandboxLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const sandbox = bwrap === null ? null : { bwrap, limits, hidden: await hiddenFolders(out, submissions) };
  const jobs = namespaces ? Math.max(1, Math.min(options.jobs ?? availableParallelism(), submissions.length)) : 1;
  const timeLimitMs = options.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS;
  await prepareOut(out);
  options.onStart?.({ submissions, namespaces, jobs, sandbox });

  const results: (GradedSubmission | undefined)[] = new Array(submissions.length);
  let next = 0;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (next < submissions.length && !options.signal?.aborted) {
      const i = next++;
      const result = await gradeSubmission(submissions[i]!, {
        command: options.command,
        out,
        namespaces,
        sandbox,
        port: options.port ?? LAB_PORT,
        timeLimitMs,
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.quick ? { quick: true } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      results[i] = result;
      options.onGraded?.(result, ++done, submissions.length);
    }
  };
  await Promise.all(Array.from({ length: jobs }, lane));

  const report: ClassReport = {
    command: options.command,
    isolation: namespaces ? 'netns' : 'ports',
    sandbox: sandbox ? { kind: 'bwrap', limits: limitsText(limits) } : { kind: 'none' },
    jobs,
    timeLimitMs,
    startedAt: new Date(started).toISOString(),
    ms: Date.now() - started,
    submissions: results.filter((r): r is GradedSubmission => r !== undefined),
  };
  await writeClassFiles(out, report);
  return report;
}

/** The folder of the linedrop that runs (the nearest one above this file with a package.json). */
function linedropFolder(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (dir !== dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return undefined;
}

/**
 * What every submission's sandbox hides, beyond the homes, /run, /mnt, /media and /srv: the user's
 * home, the output folder and the folder it is in, the folders the submissions come from, linedrop
 * itself and the folder grade was started in. Never the system (nor a folder that holds it).
 */
async function hiddenFolders(out: string, submissions: readonly Submission[]): Promise<string[]> {
  const wanted = [homedir(), out, dirname(out), ...submissions.map((s) => dirname(s.source)), linedropFolder(), process.cwd()];
  const safe = wanted.filter((p): p is string => p !== undefined && mayHide(p));
  return existingFolders([...new Set(safe)]);
}

/** Marks a folder as grade's output: only such a folder (or a new or empty one) is written over. */
const MARKER = '.linedrop-grade';

export class OutNotOurs extends Error {
  override readonly name = 'OutNotOurs';
}

/** Creates the output folder; refuses one that holds anything but an earlier grading's output. */
async function prepareOut(out: string): Promise<void> {
  await mkdir(out, { recursive: true });
  const entries = await readdir(out);
  if (entries.length > 0 && !entries.includes(MARKER)) {
    throw new OutNotOurs(
      `${out} is not empty and holds no earlier grading (no ${MARKER} in it): give --out a new or empty folder, so nothing in it is overwritten`,
    );
  }
  await writeFile(join(out, MARKER), 'Written by linedrop grade: its per-submission folders are replaced at each run.\n');
}

/** grades.csv, junit.xml and index.html for the class. */
export async function writeClassFiles(out: string, report: ClassReport): Promise<void> {
  await writeFile(join(out, 'grades.csv'), gradesCsv(report.submissions));
  await writeFile(join(out, 'junit.xml'), junitXml(report.submissions, 'linedrop grade'));
  await writeFile(join(out, 'index.html'), classIndexHtml(report));
}
