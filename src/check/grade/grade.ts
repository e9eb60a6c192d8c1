// `linedrop grade`: a whole class. Each submission is graded in a working folder of its own;
// in parallel where network namespaces keep them apart, one after another elsewhere. Writes the
// class's files: grades.csv, junit.xml, index.html, and each submission's folder.
import { LinedropError } from '../../errors.js';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { LAB_PORT } from '../client-checker.js';
import { gradesCsv } from '../reporters/csv.js';
import { classIndexHtml } from '../reporters/html.js';
import { junitXml } from '../reporters/junit.js';
import { findNamespaces, type Namespaces } from './isolation.js';
import { gradeSubmission } from './submission.js';
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
  /** Passed on to the checker: the longest wait for each answer. */
  timeoutMs?: number;
  /** Passed on to the checker: only the handout's checks, a shorter template pause. */
  quick?: boolean;
  /** Called before grading starts, with the plan. */
  onStart?: (plan: { submissions: readonly Submission[]; namespaces: Namespaces | null; jobs: number }) => void;
  /** Called as each submission is done (in the order they finish). */
  onGraded?: (result: GradedSubmission, done: number, total: number) => void;
  signal?: AbortSignal;
}

/** `isolation: 'netns'` was asked for, but network namespaces cannot be made here. */
export class NoNamespacesError extends LinedropError<'LINEDROP_ERR_NO_NAMESPACES'> {
  override name = 'NoNamespacesError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('LINEDROP_ERR_NO_NAMESPACES', message, options);
  }
}

/** Grades the class and writes its files; the result is in the submissions' order. */
export async function gradeClass(options: GradeOptions): Promise<ClassReport> {
  const started = Date.now();
  const out = resolve(options.out);
  const submissions = await findSubmissions(options.paths, [out]);
  const isolation = options.isolation ?? 'auto';
  const namespaces = isolation === 'none' ? null : await findNamespaces();
  if (isolation === 'netns' && namespaces === null) {
    throw new NoNamespacesError(
      'network namespaces cannot be made here (Linux, and root or unprivileged user namespaces, and unshare from util-linux are needed)',
    );
  }
  const jobs = namespaces ? Math.max(1, Math.min(options.jobs ?? availableParallelism(), submissions.length)) : 1;
  const timeLimitMs = options.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS;
  await prepareOut(out);
  options.onStart?.({ submissions, namespaces, jobs });

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
    jobs,
    timeLimitMs,
    startedAt: new Date(started).toISOString(),
    ms: Date.now() - started,
    submissions: results.filter((r): r is GradedSubmission => r !== undefined),
  };
  await writeClassFiles(out, report);
  return report;
}

/** Marks a folder as grade's output: only such a folder (or a new or empty one) is written over. */
const MARKER = '.linedrop-grade';

/** The output folder holds files that are not an earlier grading's: nothing is written over them. */
export class OutNotOursError extends LinedropError<'LINEDROP_ERR_OUT_NOT_OURS'> {
  override name = 'OutNotOursError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('LINEDROP_ERR_OUT_NOT_OURS', message, options);
  }
}

/** Creates the output folder; refuses one that holds anything but an earlier grading's output. */
async function prepareOut(out: string): Promise<void> {
  await mkdir(out, { recursive: true });
  const entries = await readdir(out);
  if (entries.length > 0 && !entries.includes(MARKER)) {
    throw new OutNotOursError(
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
