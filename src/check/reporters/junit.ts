// JUnit XML, as CI systems and GitHub Classroom read it: a <testsuite> per submission, a <testcase>
// per check. A failed required check is a <failure>; a required check that could not run (the
// server was gone, the time ran out) is an <error>; checks beyond the handout never count against
// a submission, so their failures are <skipped> with the finding in the message, like checks that
// do not apply or were left out.
import type { CheckResult } from '../types.js';
import type { GradedSubmission } from '../grade/types.js';
import { escapeXml as esc } from './xml.js';
import { causeOf, isNotApplicable } from './tally.js';

export type JunitSuite = Pick<GradedSubmission, 'name' | 'report' | 'outputTail' | 'ms' | 'startedAt'> & {
  problem?: string;
  verdict?: string;
  score?: number;
  maxScore?: number;
};

type Outcome = { kind: 'pass' } | { kind: 'failure' | 'error' | 'skipped'; message: string };

const NOT_RUN = new Set(['unreachable', 'interrupted']);

function outcome(r: CheckResult): Outcome {
  if (r.status === 'pass') return { kind: 'pass' };
  if (isNotApplicable(r)) return { kind: 'skipped', message: `not applicable: ${r.seen}` };
  if (r.status === 'fail') {
    const cause = causeOf(r);
    const message = cause ? `follows from ${cause}: ${r.seen}` : r.seen;
    return r.required
      ? { kind: 'failure', message }
      : { kind: 'skipped', message: `beyond the handout, not graded; failed: ${message}` };
  }
  if (r.required && r.skipReason !== undefined && NOT_RUN.has(r.skipReason)) return { kind: 'error', message: r.seen };
  return { kind: 'skipped', message: r.seen };
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

function details(r: CheckResult): string {
  const lines = [
    `sent:     ${r.sent}`,
    `expected: ${r.expected}`,
    `seen:     ${r.seen}`,
    ...r.notes.map((n) => `note:     ${n}`),
  ];
  return lines.join('\n');
}

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

function suiteXml(suite: JunitSuite): { xml: string; counts: Counts } {
  const counts: Counts = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  let cases = '';
  const checks = suite.report?.checks ?? [];
  for (const r of checks) {
    const o = outcome(r);
    counts.tests++;
    const classname = `${suite.name}.${r.required ? 'required' : 'beyond-handout'}`;
    const open = `    <testcase name="${esc(r.name)}" classname="${esc(classname)}" time="${seconds(r.ms)}"`;
    if (o.kind === 'pass') {
      cases += `${open}/>\n`;
      continue;
    }
    if (o.kind === 'failure') counts.failures++;
    else if (o.kind === 'error') counts.errors++;
    else counts.skipped++;
    const body = o.kind === 'skipped' ? '' : `${esc(details(r))}`;
    const type = o.kind === 'skipped' ? '' : ` type="${r.required ? 'required' : 'optional'}"`;
    cases += `${open}>\n      <${o.kind} message="${esc(o.message)}"${type}>${body}</${o.kind}>\n    </testcase>\n`;
  }
  if (checks.length === 0) {
    // The checker could not run at all: one test case says why.
    counts.tests++;
    counts.errors++;
    const message = suite.problem ?? 'the checker did not produce a report';
    const error = `<error message="${esc(message)}" type="start">${esc(suite.outputTail)}</error>`;
    cases += `    <testcase name="start" classname="${esc(suite.name)}" time="${seconds(suite.ms)}">\n      ${error}\n    </testcase>\n`;
  }
  const props: [string, string][] = [];
  if (suite.verdict) props.push(['verdict', suite.verdict]);
  if (suite.score !== undefined) props.push(['score', String(suite.score)]);
  if (suite.maxScore !== undefined) props.push(['max_score', String(suite.maxScore)]);
  if (suite.problem) props.push(['problem', suite.problem]);
  const properties = props.length
    ? `    <properties>\n${props.map(([k, v]) => `      <property name="${esc(k)}" value="${esc(v)}"/>\n`).join('')}    </properties>\n`
    : '';
  const out = suite.outputTail ? `    <system-out>${esc(suite.outputTail)}</system-out>\n` : '';
  const attrs =
    `name="${esc(suite.name)}" tests="${counts.tests}" failures="${counts.failures}" ` +
    `errors="${counts.errors}" skipped="${counts.skipped}" time="${seconds(suite.ms)}" ` +
    `timestamp="${esc(suite.startedAt.slice(0, 19))}"`;
  return { xml: `  <testsuite ${attrs}>\n${properties}${cases}${out}  </testsuite>\n`, counts };
}

/** The whole file: `<testsuites>` holding a `<testsuite>` per submission (or per report). */
export function junitXml(suites: readonly JunitSuite[], name = 'linedrop'): string {
  const total: Counts = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  let body = '';
  let ms = 0;
  for (const suite of suites) {
    const { xml, counts } = suiteXml(suite);
    body += xml;
    ms += suite.ms;
    total.tests += counts.tests;
    total.failures += counts.failures;
    total.errors += counts.errors;
    total.skipped += counts.skipped;
  }
  const attrs =
    `name="${esc(name)}" tests="${total.tests}" failures="${total.failures}" ` +
    `errors="${total.errors}" skipped="${total.skipped}" time="${seconds(ms)}"`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ${attrs}>\n${body}</testsuites>\n`;
}
