// CSV (RFC 4180: comma-separated, fields quoted when they hold a comma, a quote or a line break,
// lines ended by CRLF): the class's grades, a row per submission; or one report, a row per check.
import type { CheckReport } from '../types.js';
import type { GradedSubmission } from '../grade/types.js';
import { causeOf, failedChecks, firstFailure, tally } from './tally.js';

export function csvField(value: string | number | boolean | null | undefined): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(fields: readonly (string | number | boolean | null | undefined)[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}

export const GRADES_COLUMNS = [
  'submission',
  'verdict',
  'required_passed',
  'required_failed',
  'required_skipped',
  'required_not_applicable',
  'optional_passed',
  'optional_failed',
  'failed_checks',
  'first_failure',
  'optional_failed_checks',
  'seconds',
  'problem',
  'score',
  'max_score',
] as const;

/**
 * `grades.csv`: a row per submission, its score last (src/check/score.ts); check names in a cell are separated by
 * spaces.
 */
export function gradesCsv(submissions: readonly GradedSubmission[]): string {
  let out = csvLine(GRADES_COLUMNS);
  for (const s of submissions) {
    const req = tally(s.report, true);
    const opt = tally(s.report, false);
    out += csvLine([
      s.name,
      s.verdict,
      req.passed,
      req.failed,
      req.skipped,
      req.notApplicable,
      opt.passed,
      opt.failed,
      failedChecks(s.report, true).join(' '),
      firstFailure(s.report)?.name ?? '',
      failedChecks(s.report, false).join(' '),
      (s.ms / 1000).toFixed(1),
      s.problem ?? '',
      s.score,
      s.maxScore,
    ]);
  }
  return out;
}

export const CHECKS_COLUMNS = ['check', 'required', 'status', 'caused_by', 'sent', 'expected', 'seen', 'ms'] as const;

/** One report: a row per check. */
export function checksCsv(report: CheckReport): string {
  let out = csvLine(CHECKS_COLUMNS);
  for (const r of report.checks) {
    out += csvLine([r.name, r.required, r.status, causeOf(r) ?? '', r.sent, r.expected, r.seen, r.ms]);
  }
  return out;
}
