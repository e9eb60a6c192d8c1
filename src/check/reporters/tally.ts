// Counting a report's checks the same way in every format.
import type { CheckReport, CheckResult, StatusCounts } from '../types.js';

/** A check that cannot apply to the server (e.g. several clients at once to a one-connection server). */
export function isNotApplicable(r: CheckResult): boolean {
  return r.status === 'not-applicable';
}

/** The earlier check a failure follows from, if the checker says so. */
export function causeOf(r: CheckResult): string | undefined {
  return r.causedBy;
}

const NONE: StatusCounts = { passed: 0, failed: 0, skipped: 0, notApplicable: 0 };

/** The report's own counts of the required (or the optional) checks; all 0 without a report. */
export function tally(report: CheckReport | null, required: boolean): StatusCounts {
  if (!report) return NONE;
  return required ? report.summary.required : report.summary.optional;
}

/** The names of the failed checks, in the order they ran. */
export function failedChecks(report: CheckReport | null, required: boolean): string[] {
  return (report?.checks ?? []).filter((r) => r.required === required && r.status === 'fail').map((r) => r.name);
}

/** The first failed required check that does not follow from an earlier one: the bug to fix first. */
export function firstFailure(report: CheckReport | null): CheckResult | undefined {
  const failed = (report?.checks ?? []).filter((r) => r.required && r.status === 'fail');
  return failed.find((r) => r.causedBy === undefined) ?? failed[0];
}
