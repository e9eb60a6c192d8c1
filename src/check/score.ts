// Points for a report: what `grades.csv`, report.json, JUnit, the HTML pages and Gradescope's
// results.json give a submission. Each check is worth its points from the teacher's points file,
// or, when the file does not name it, 1 if the handout requires it and 0 if it goes beyond it.
// A check that counts (worth more than 0, and not left out by the teacher) adds its points to the
// maximum; it scores them when it passed or cannot apply to the server (not-applicable: the rule
// is not lost), and 0 when it failed or could not run (skipped because the server was gone, the
// time ran out, or what it looks at never happened). Pure: reads the report types only.
import type { CheckReport, CheckResult } from './types.js';

/** Points per check name; checks not named are worth 1 if required, 0 otherwise. */
export type Points = Readonly<Record<string, number>>;

/** Skips the teacher chose (`only`, `quick`, no folder given): such a check is not graded at all. */
const LEFT_OUT = new Set(['not-selected', 'needs-dir', 'quick']);

/** What a check is worth. */
export function pointsFor(check: { name: string; required: boolean }, points: Points = {}): number {
  return Object.hasOwn(points, check.name) ? points[check.name]! : check.required ? 1 : 0;
}

/** True when the check adds to the maximum: it is worth something and was not left out. */
export function counts(r: CheckResult, points: Points = {}): boolean {
  return pointsFor(r, points) > 0 && !(r.status === 'skip' && r.skipReason !== undefined && LEFT_OUT.has(r.skipReason));
}

/** The points a check scored (0 for a check that does not count). */
export function scored(r: CheckResult, points: Points = {}): number {
  return counts(r, points) && (r.status === 'pass' || r.status === 'not-applicable') ? pointsFor(r, points) : 0;
}

export interface Score {
  score: number;
  maxScore: number;
}

/** Sums a little more carefully than `+` for points such as 0.1 + 0.2: to six decimals. */
function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/**
 * A report's score. Without a report (the checker could not run), every check of `all` that is
 * worth something counts for the maximum and nothing is scored.
 */
export function scoreOf(
  report: CheckReport | null,
  points: Points,
  all: readonly { name: string; required: boolean }[],
): Score {
  if (!report) return { score: 0, maxScore: round(all.reduce((sum, c) => sum + pointsFor(c, points), 0)) };
  let score = 0;
  let maxScore = 0;
  for (const r of report.checks) {
    if (!counts(r, points)) continue;
    maxScore += pointsFor(r, points);
    score += scored(r, points);
  }
  return { score: round(score), maxScore: round(maxScore) };
}
