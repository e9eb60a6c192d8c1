// What `grade` produces: one result per submission, and the class's run around them.
import type { CheckReport } from '../types.js';

/**
 * A submission's verdict: `pass` every required check ran and passed; `fail` a required check
 * failed; `incomplete` none failed, but a required check was skipped or could not run (`problem`
 * says which and why): never a pass; `no-start` the server never accepted a connection; `timeout`
 * the time limit stopped the checks (those that ran are reported); `error` the checker itself
 * could not run.
 */
export type Verdict = 'pass' | 'fail' | 'incomplete' | 'no-start' | 'timeout' | 'error';

export const VERDICTS: readonly Verdict[] = ['pass', 'fail', 'incomplete', 'no-start', 'timeout', 'error'];

/** Each verdict as the reports and the command line show it. */
export const VERDICT_LABEL: Record<Verdict, string> = {
  pass: 'PASS',
  fail: 'FAIL',
  incomplete: 'INCOMPLETE',
  'no-start': 'DID NOT START',
  timeout: 'TIMED OUT',
  error: 'NOT CHECKED',
};

/** How the submissions were kept apart. */
export type Isolation = 'netns' | 'ports';

/** The sandbox the servers ran in: `bwrap` (bubblewrap, with limits), or `none` (`--sandbox none`). */
export type SandboxKind = 'bwrap' | 'none';

export interface GradedSubmission {
  /** The submission's name: its file or folder name, made safe for a folder name, unique in the class. */
  name: string;
  /** The file or folder that was graded. */
  source: string;
  verdict: Verdict;
  /** The checker's report (null when the checker could not run at all). */
  report: CheckReport | null;
  /** Why the submission did not start, ran out of time, or could not be checked, in words. */
  problem?: string;
  /** The last lines the server printed (standard output and error). */
  outputTail: string;
  /**
   * How A's order against the storing of k.txt was judged, in words: seen in the server's system
   * calls (the same verdict on every run), or by timing only, and why.
   */
  answerOrder?: string;
  /** The port the server was checked on. */
  port: number;
  /** The shell command that started it, with `{file}`, `{dir}` and `{port}` filled in. */
  command: string;
  /** Where the command came from, when the teacher gave none (e.g. "the template's way: no --cmd was given"). */
  commandNote?: string;
  /** The points scored: see src/check/score.ts (by default a point per required check passed). */
  score: number;
  /** The points there were to score. */
  maxScore: number;
  /** The sandbox it ran in. */
  sandbox?: SandboxKind;
  /**
   * The sandbox's limits it reached, in words: `stopped at the 512 MiB memory limit`, `could not start a process: limit
   * 64`.
   */
  limits?: string[];
  startedAt: string;
  ms: number;
}

export interface ClassReport {
  /**
   * The command template, as given (`{file}`, `{port}`, `{dir}` not filled in), or the template's way when none was.
   */
  command: string;
  /** Points per check from `--points` (empty: a point per required check). */
  points?: Readonly<Record<string, number>>;
  isolation: Isolation;
  /** The sandbox every server ran in, and its limits (`limitsText`). */
  sandbox?: { kind: SandboxKind; limits?: string };
  jobs: number;
  timeLimitMs: number;
  startedAt: string;
  ms: number;
  submissions: GradedSubmission[];
}
