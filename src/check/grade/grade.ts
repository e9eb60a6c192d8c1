// `linedrop grade`: a whole class. Each submission is graded in a working folder of its own;
// in parallel where network namespaces keep them apart, one after another elsewhere. Writes the
// class's files: grades.csv, junit.xml, index.html, and each submission's folder.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinedropError } from '../../errors.js';
import { LAB_PORT } from '../client-checker.js';
import { gradesCsv } from '../reporters/csv.js';
import { classIndexHtml } from '../reporters/html.js';
import { junitXml } from '../reporters/junit.js';
import type { Points } from '../score.js';
import {
  ALWAYS_HIDDEN,
  DEFAULT_LIMITS,
  existingFolders,
  findSandbox,
  limitsText,
  mayHide,
  type SandboxLimits,
  type SandboxMode,
} from '../sandbox/index.js';
import { shellQuote } from './command.js';
import { findNamespaces, inNamespace, type Namespaces } from './isolation.js';
import { gradeSubmission, type GradeSandbox } from './submission.js';
import { findSubmissions, isZip, submissionsFromZip, type Submission } from './submissions.js';
import type { UnzipLimits } from './unzip.js';
import type { ClassReport, GradedSubmission } from './types.js';

export const DEFAULT_TIME_LIMIT_MS = 120_000;

/** How the lab's template starts a server; what a .py submission is started with when no command is given. */
export const TEMPLATE_COMMAND = "printf '2\\n' | python3 {file}";
const TEMPLATE_NOTE = "the template's way: no --cmd was given (python3 named by its path)";

/** Where a course site's .zip is unpacked, inside the output folder (hidden: never a submission's name). */
const UNPACKED = '.unpacked';

export interface GradeOptions {
  /**
   * A folder of submissions (each entry is one), the submissions' files and folders, or one .zip as a course site
   * exports a class.
   */
  paths: readonly string[];
  /**
   * Shell command that starts a server: `{file}` the submission's copy, `{dir}` its working folder, `{port}` the port.
   * Without it, a .py submission (or a folder holding one .py) starts the template's way (TEMPLATE_COMMAND).
   */
  command?: string;
  /** Points per check (`--points`): see src/check/score.ts. */
  points?: Points;
  /** Bounds on unpacking a .zip (default DEFAULT_UNZIP_LIMITS). */
  unzipLimits?: UnzipLimits;
  /** Where the reports go (created). */
  out: string;
  /** Submissions graded at once in network namespaces (default: the number of cores). */
  jobs?: number;
  /** Longest time for one submission (default 120 s). */
  timeLimitMs?: number;
  /** The port the servers listen on when the command has no `{port}` (default 12100). */
  port?: number;
  /**
   * `auto` (default): namespaces where they can be made; `none`: one after another on ports of their own; `netns`:
   * namespaces or an error.
   */
  isolation?: 'auto' | 'none' | 'netns';
  /**
   * `auto` (default) and `bwrap`: each server in a bubblewrap sandbox, refused (NoSandboxError) where none can be made;
   * `none`: unconfined.
   */
  sandbox?: SandboxMode;
  /** The sandbox's limits (DEFAULT_LIMITS for those not given). */
  limits?: Partial<SandboxLimits>;
  /** Passed on to the checker: the longest wait for each answer. */
  timeoutMs?: number;
  /** Passed on to the checker: only the handout's checks, a shorter template pause. */
  quick?: boolean;
  /**
   * Passed on to the checker: a server that listens on another port than it was given fails (the port check is
   * required).
   */
  requirePort?: boolean;
  /** Called before grading starts, with the plan. */
  onStart?: (plan: {
    submissions: readonly Submission[];
    namespaces: Namespaces | null;
    jobs: number;
    sandbox: GradeSandbox | null;
  }) => void;
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

/** No `--cmd` was given and a submission is not one whose command linedrop knows (a `.py` server). */
export class NoCommandError extends LinedropError<'LINEDROP_ERR_NO_COMMAND'> {
  override name = 'NoCommandError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('LINEDROP_ERR_NO_COMMAND', message, options);
  }
}

/** The command for a submission when the teacher gave none: the template's for a Python server, else null. */
export async function templateCommand(sub: Submission): Promise<string | null> {
  if (sub.kind === 'file') return sub.source.toLowerCase().endsWith('.py') ? TEMPLATE_COMMAND : null;
  const py = (await readdir(sub.source)).filter((f) => f.toLowerCase().endsWith('.py') && !f.startsWith('.'));
  return py.length === 1 ? TEMPLATE_COMMAND.replace('{file}', shellQuote(py[0]!)) : null;
}

/**
 * The interpreter `python3` runs, as an absolute path: the template's command starts it directly,
 * the same program, without a wrapper such as pyenv's shim (a shell script that costs more CPU
 * than the server's own start, paid at every one of a submission's starts).
 */
export async function findPython(hidden: readonly string[] = []): Promise<string> {
  const inHidden = (path: string): boolean => hidden.some((h) => path === h || path.startsWith(`${h}/`));
  // `python3` as the PATH finds it, then every other python3 on the PATH: the first whose
  // interpreter the sandbox does not hide (pyenv's lives in the home, which a sandbox hides).
  const candidates = [
    'python3',
    ...(process.env['PATH'] ?? '')
      .split(delimiter)
      .filter((d) => d.startsWith('/') && !inHidden(d))
      .map((d) => join(d, 'python3')),
  ];
  let first: string | undefined;
  let why = '';
  for (const candidate of [...new Set(candidates)]) {
    if (candidate !== 'python3' && !existsSync(candidate)) continue;
    const path = await executableOf(candidate).catch((e: Error) => {
      why ||= e.message;
      return undefined;
    });
    if (path === undefined) continue;
    first ??= path;
    if (!inHidden(path)) return path;
  }
  throw new NoCommandError(
    first !== undefined
      ? `no --cmd given, and the python3 here (${first}) lies in a folder the sandbox hides: ` +
          `install Python 3 system-wide (e.g. apt-get install python3), or give --cmd`
      : `no --cmd given, and python3 cannot be run here (${why || 'it did not say where it is'}): ` +
          `install Python 3, or give --cmd`,
  );
}

/** The absolute path of the interpreter a `python3` command runs. */
function executableOf(python3: string): Promise<string> {
  return new Promise((done, fail) => {
    execFile(python3, ['-c', 'import sys; print(sys.executable)'], { timeout: 60_000 }, (e, stdout) => {
      const path = stdout.trim();
      if (e || !path.startsWith('/'))
        fail(new Error(e ? (e.message.split('\n')[0] ?? '') : 'it did not say where it is'));
      else done(path);
    });
  });
}

/** Each submission's command: the teacher's, or the template's way; NoCommandError names those that have none. */
async function commandsFor(
  submissions: readonly Submission[],
  command: string | undefined,
  hidden: readonly string[],
): Promise<string[]> {
  if (command !== undefined) return submissions.map(() => command);
  const found = await Promise.all(submissions.map(templateCommand));
  const missing = submissions.filter((_, i) => found[i] === null);
  if (missing.length > 0) {
    const which = missing
      .slice(0, 5)
      .map((s) => `${s.name} (${s.kind === 'file' ? 'not a .py file' : 'a folder without exactly one .py file'})`)
      .join(', ');
    throw new NoCommandError(
      `no --cmd given, and ${missing.length} submission${missing.length === 1 ? ' is' : 's are'} ` +
        `not a Python server to start the template's way (${TEMPLATE_COMMAND}): ` +
        `${which}${missing.length > 5 ? ', ...' : ''}; give --cmd with the command that starts one, ` +
        `e.g. --cmd "gcc -o server {file} && ./server" or --cmd "cd {dir} && printf '2\\n' | python3 server.py"`,
    );
  }
  const python = shellQuote(await findPython(hidden));
  return (found as string[]).map((c) => c.replace('python3', python));
}

/** Grades the class and writes its files; the result is in the submissions' order. */
export async function gradeClass(options: GradeOptions): Promise<ClassReport> {
  const started = Date.now();
  const out = resolve(options.out);
  let submissions: Submission[];
  if (options.paths.length === 1 && isZip(options.paths[0]!)) {
    await prepareOut(out);
    await rm(join(out, UNPACKED), { recursive: true, force: true });
    submissions = await submissionsFromZip(options.paths[0]!, join(out, UNPACKED), options.unzipLimits);
  } else {
    submissions = await findSubmissions(options.paths, [out]);
  }
  const isolation = options.isolation ?? 'auto';
  const namespaces = isolation === 'none' ? null : await findNamespaces();
  if (isolation === 'netns' && namespaces === null) {
    throw new NoNamespacesError(
      'network namespaces cannot be made here (Linux, and root or unprivileged user namespaces, and ' +
        'unshare from util-linux are needed)',
    );
  }
  const bwrap = await findSandbox(
    options.sandbox ?? 'auto',
    namespaces ? (argv) => inNamespace(namespaces, argv) : undefined,
  );
  const limits: SandboxLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const sandbox = bwrap === null ? null : { bwrap, limits, hidden: await hiddenFolders(out, submissions) };
  const commands = await commandsFor(
    submissions,
    options.command,
    sandbox ? [...ALWAYS_HIDDEN, ...sandbox.hidden] : [],
  );
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
        command: commands[i]!,
        ...(options.command === undefined ? { commandNote: TEMPLATE_NOTE } : {}),
        ...(options.points ? { points: options.points } : {}),
        out,
        namespaces,
        sandbox,
        port: options.port ?? LAB_PORT,
        timeLimitMs,
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.quick ? { quick: true } : {}),
        ...(options.requirePort ? { requirePort: true } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      results[i] = result;
      options.onGraded?.(result, ++done, submissions.length);
    }
  };
  await Promise.all(Array.from({ length: jobs }, lane));

  const report: ClassReport = {
    command: options.command ?? `${TEMPLATE_COMMAND} (${TEMPLATE_NOTE})`,
    points: options.points ?? {},
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
  const wanted = [
    homedir(),
    out,
    dirname(out),
    ...submissions.map((s) => dirname(s.source)),
    linedropFolder(),
    process.cwd(),
  ];
  const safe = wanted.filter((p): p is string => p !== undefined && mayHide(p));
  return existingFolders([...new Set(safe)]);
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
      `${out} is not empty and holds no earlier grading (no ${MARKER} in it): give --out a new or ` +
        `empty folder, so nothing in it is overwritten`,
    );
  }
  await writeFile(
    join(out, MARKER),
    'Written by linedrop grade: its per-submission folders are replaced at each run.\n',
  );
}

/** grades.csv, junit.xml and index.html for the class. */
export async function writeClassFiles(out: string, report: ClassReport): Promise<void> {
  await writeFile(join(out, 'grades.csv'), gradesCsv(report.submissions));
  await writeFile(join(out, 'junit.xml'), junitXml(report.submissions, 'linedrop grade'));
  await writeFile(join(out, 'index.html'), classIndexHtml(report));
}
