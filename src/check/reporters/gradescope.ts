// Gradescope's autograder results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
// a test per check. A check is worth its points as src/check/score.ts counts them (1 for each
// required check by default, `points` for each when given, or each check's own from `checkPoints`,
// the --points file): the points when it passes (or cannot apply), 0 otherwise. Checks worth
// nothing (beyond the handout by default) only show passed or failed. The output of each test is
// what the checker sent, expected and saw.
import { counts, pointsFor, scored, type Points } from '../score.js';
import type { CheckReport, CheckResult } from '../types.js';
import { serverReportSummary } from './text.js';
import { causeOf, isNotApplicable } from './tally.js';

export interface GradescopeTest {
  name: string;
  number: string;
  score: number;
  max_score: number;
  status: 'passed' | 'failed';
  output: string;
  output_format: 'text';
  tags: string[];
  visibility?: string;
}

export interface GradescopeResults {
  score: number;
  execution_time: number;
  output: string;
  output_format: 'text';
  tests: GradescopeTest[];
}

export interface GradescopeOptions {
  /** Points for each required check (default 1); `checkPoints` gives them check by check instead. */
  points?: number;
  /** Points per check name (the --points file); checks not named: 1 if required, 0 otherwise. */
  checkPoints?: Points;
  /** Gradescope's visibility for every test (`visible`, `hidden`, `after_due_date`, `after_published`). */
  visibility?: string;
  /** Text shown above the tests, before the summary (e.g. the server's last lines of output). */
  preface?: string;
}

function testOutput(r: CheckResult): string {
  const cause = causeOf(r);
  const head = isNotApplicable(r)
    ? 'Not applicable to this server.\n'
    : r.status === 'skip'
      ? 'Not run.\n'
      : cause
        ? `This failure follows from the failure of ${cause}: fix that one first.\n`
        : '';
  const lines = [
    `sent:     ${r.sent}`,
    `expected: ${r.expected}`,
    `seen:     ${r.seen}`,
    ...r.notes.map((n) => `note:     ${n}`),
  ];
  return head + lines.join('\n');
}

export function gradescopeResults(report: CheckReport, options: GradescopeOptions = {}): GradescopeResults {
  const points: Points =
    options.checkPoints ??
    (options.points !== undefined
      ? Object.fromEntries(report.checks.filter((r) => r.required).map((r) => [r.name, options.points!]))
      : {});
  const tests = report.checks.map((r, i): GradescopeTest => {
    const worth = counts(r, points);
    const passed = r.status === 'pass' || isNotApplicable(r);
    const status = passed || (r.status === 'skip' && !worth) ? 'passed' : 'failed';
    const tags = [r.required ? 'required' : 'beyond the handout'];
    if (isNotApplicable(r)) tags.push('not applicable');
    if (causeOf(r)) tags.push(`follows from ${causeOf(r)}`);
    return {
      name: `${r.name}: ${r.title}`,
      number: String(i + 1),
      score: scored(r, points),
      max_score: worth ? pointsFor(r, points) : 0,
      status,
      output: testOutput(r),
      output_format: 'text',
      tags,
      ...(options.visibility ? { visibility: options.visibility } : {}),
    };
  });
  const score = tests.reduce((sum, t) => sum + t.score, 0);
  const summary = serverReportSummary(report).trim();
  return {
    score,
    execution_time: Math.round(report.ms / 1000),
    output: options.preface ? `${options.preface.trimEnd()}\n\n${summary}` : summary,
    output_format: 'text',
    tests,
  };
}

export function gradescopeJson(report: CheckReport, options: GradescopeOptions = {}): string {
  return `${JSON.stringify(gradescopeResults(report, options), null, 2)}\n`;
}
