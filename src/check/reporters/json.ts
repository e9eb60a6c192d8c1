// JSON for programs: a check report as it is, or a graded submission with its report inside.
import type { GradedSubmission } from '../grade/types.js';
import type { CheckReport } from '../types.js';

export function reportJson(report: CheckReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

export function submissionJson(submission: GradedSubmission): string {
  return `${JSON.stringify(submission, null, 2)}\n`;
}
