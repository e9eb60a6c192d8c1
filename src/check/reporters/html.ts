// The grading report as HTML: the class at a glance (index.html: a row per submission, a column
// per check) and a page per submission (every check with what was sent, expected and seen, and
// its conversation as a timeline). Readable without JavaScript.
import { VERDICT_LABEL, type ClassReport, type GradedSubmission, type Verdict } from '../grade/types.js';
import type { CheckResult, ServerStartReport } from '../types.js';
import { badge, page } from './html-layout.js';
import { causeOf, failedChecks, firstFailure, isNotApplicable, tally } from './tally.js';
import { timelineHtml } from './timeline.js';
import { escapeXml as esc } from './xml.js';

const VERDICT_TEXT = VERDICT_LABEL;

export function verdictBadge(v: Verdict): string {
  return badge(VERDICT_TEXT[v], v);
}

function statusOf(r: CheckResult): { text: string; kind: string; mark: string } {
  if (isNotApplicable(r)) return { text: 'N/A', kind: 'na', mark: 'n/a' };
  if (r.status === 'pass') return { text: 'PASS', kind: 'pass', mark: '✓' };
  if (r.status === 'fail') return { text: 'FAIL', kind: 'fail', mark: causeOf(r) ? '(✗)' : '✗' };
  return { text: 'SKIP', kind: 'skip', mark: '–' };
}

/** The folder of a submission's files, relative to the class's index.html. */
export function submissionHref(name: string): string {
  return `${encodeURIComponent(name)}/index.html`;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

// ----------------------------------------------------------------------------- the class

/** `index.html`: the class at a glance. */
export function classIndexHtml(cls: ClassReport): string {
  const subs = cls.submissions;
  const byVerdict = new Map<Verdict, number>();
  for (const s of subs) byVerdict.set(s.verdict, (byVerdict.get(s.verdict) ?? 0) + 1);
  const counts = [...byVerdict].map(([v, n]) => `<span>${verdictBadge(v)} ${n}</span>`).join('');
  // The checks as columns, in the order they ran (from the first submission that has them all).
  const columns = (subs.map((s) => s.report?.checks ?? []).sort((a, b) => b.length - a.length)[0] ?? []).map((c) => ({
    name: c.name,
    title: c.title,
    required: c.required,
  }));
  const head = columns
    .map((c) => `<th class="rot" title="${esc(c.title)}">${esc(c.name)}${c.required ? '' : ' *'}</th>`)
    .join('');
  const rows = subs
    .map((s) => {
      const req = tally(s.report, true);
      const cells = columns
        .map((c) => {
          const r = s.report?.checks.find((x) => x.name === c.name);
          if (!r) return '<td class="cell"></td>';
          const st = statusOf(r);
          const tip = `${c.name}: ${st.text}${causeOf(r) ? ` (follows from ${causeOf(r)})` : ''}: ${r.seen}`;
          return `<td class="cell ${st.kind}" title="${esc(tip)}">${st.mark}</td>`;
        })
        .join('');
      const first = firstFailure(s.report);
      const note = s.problem ?? (first ? `${first.name}: ${first.seen}` : '');
      return (
        `<tr><td><a href="${esc(submissionHref(s.name))}">${esc(s.name)}</a></td><td>${verdictBadge(s.verdict)}</td><td ` +
        `class="score">${s.score}/${s.maxScore}</td><td>${req.passed}/${req.passed + req.failed + req.skipped}</td>${cells}<td ` +
        `class="note">${esc(shorten(note, 160))}</td></tr>`
      );
    })
    .join('\n');
  const body = `<h1>linedrop grade: ${subs.length} submission${subs.length === 1 ? '' : 's'}</h1>
<p class="meta">Graded ${esc(cls.startedAt.replace('T', ' ').slice(0, 19))} UTC in ${seconds(cls.ms)} with <code>${esc(cls.command)}</code>;
${cls.isolation === 'netns' ? `each submission in a network namespace of its own, ${cls.jobs} at a time` : 'one after another, each on a port of its own'}; time limit ${seconds(cls.timeLimitMs)} per submission;
${
  Object.keys(cls.points ?? {}).length
    ? `points from the points file: ${esc(
        Object.entries(cls.points ?? {})
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
      )}, any other required check 1`
    : 'a point per required check passed'
}.
${sandboxLine(cls)}</p>
<p class="counts">${counts}</p>
<table class="class">
<thead><tr><th>submission</th><th>verdict</th><th>score</th><th>required passed</th>${head}<th>first thing to fix</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p class="meta">✓ passed, ✗ failed, (✗) failed because of an earlier failure, – not run, n/a not applicable; * beyond the handout (never counts against a submission).
Hover a cell for what the checker saw; follow a name for the whole conversation.
Also here: <a href="grades.csv">grades.csv</a>, <a href="junit.xml">junit.xml</a>, and each submission's report.txt and report.json.</p>`;
  return page(`linedrop grade: ${subs.length} submissions`, body);
}

/** Which sandbox the servers ran in, for the class page. */
function sandboxLine(cls: ClassReport): string {
  if (!cls.sandbox) return '';
  if (cls.sandbox.kind === 'none')
    return 'No sandbox (<code>--sandbox none</code>): each server ran unconfined, as the user running linedrop.';
  const net =
    cls.isolation === 'netns'
      ? 'its own loopback, no route out'
      : "this machine's network " + '(no network namespaces)';
  return (
    `Each server ran in a bubblewrap sandbox (the system read-only, only its working folder ` +
    `and a private /tmp writable, ${net}; limits: ${esc(cls.sandbox.limits ?? '')}).`
  );
}

function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// ------------------------------------------------------------------------- a submission

function checkSection(r: CheckResult): string {
  const st = statusOf(r);
  const cause = causeOf(r);
  const events = r.conversation;
  const facts = [
    ['sent', r.sent],
    ['expected', r.expected],
    ['seen', r.seen],
    ...r.notes.map((n) => ['note', n] as const),
  ]
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`)
    .join('');
  return `<section class="check s-${st.kind}" id="${esc(r.name)}">
<h3>${badge(st.text, st.kind)} ${esc(r.name)} <span class="meta">${esc(r.title)}${r.required ? '' : ' (beyond the handout)'}</span></h3>
${cause ? `<p class="cause">Follows from <a href="#${esc(cause)}">${esc(cause)}</a>: fix that first.</p>` : ''}
<dl class="facts">${facts}</dl>
<details${r.status === 'fail' ? ' open' : ''}><summary>conversation (${r.connections} connection${r.connections === 1 ? '' : 's'}, ${r.ms} ms)</summary>
${timelineHtml(events)}
</details>
</section>`;
}

/** One start of the server: the checks it served, how it ended, what it printed. */
function startSection(r: ServerStartReport): string {
  const served = r.checks.map((c) => `<a href="#${esc(c)}">${esc(c)}</a>`).join(', ') || 'no check';
  const end = r.crash ?? (r.stoppedByChecker ? 'stopped by the checker' : (r.exit ?? 'still running'));
  const output = r.output.trim()
    ? `<pre class="output">${esc(r.output)}</pre>`
    : '<p class="none">It printed nothing.</p>';
  return (
    `<details${r.crash ? ' open' : ''}><summary>start ${r.start}: ${served}; ${esc(end)} ` +
    `(${r.bytes} bytes printed)</summary>\n${output}\n</details>`
  );
}

/** `<name>/index.html`: one submission, every check. */
export function submissionHtml(s: GradedSubmission): string {
  const req = tally(s.report, true);
  const opt = tally(s.report, false);
  const first = firstFailure(s.report);
  const failed = failedChecks(s.report, true);
  let body = `<p><a href="../index.html">← the class</a></p>
<h1>${esc(s.name)} ${verdictBadge(s.verdict)}</h1>
<p class="meta">${esc(s.source)}, checked on port ${s.port} in ${seconds(s.ms)} with <code>${esc(s.command)}</code>${s.commandNote ? ` (${esc(s.commandNote)})` : ''}${s.report ? `, started ${s.report.summary.restarts} time${s.report.summary.restarts === 1 ? '' : 's'}` : ''}</p>
<p class="counts"><span>Score: ${s.score} of ${s.maxScore}</span>
<span>Required: ${req.passed} passed, ${req.failed} failed, ${req.skipped} not run${req.notApplicable ? `, ${req.notApplicable} not applicable` : ''}</span>
<span>Beyond the handout: ${opt.passed} passed, ${opt.failed} failed</span></p>`;
  if (s.sandbox)
    body += `<p class="meta">Sandbox: ${s.sandbox === 'bwrap' ? 'bubblewrap' : 'none (unconfined)'}${s.limits?.length ? `; limits reached: ${esc(s.limits.join('; '))}` : ''}</p>`;
  if (s.problem) body += `<p class="cause">${esc(s.problem)}</p>`;
  if (first)
    body += `<p>Fix first: <a href="#${esc(first.name)}">${esc(first.name)}</a>${failed.length > 1 ? ` (failed: ${failed.map(esc).join(', ')})` : ''}.</p>`;
  if (s.report?.error) body += `<p class="cause">${esc(s.report.error)}</p>`;
  if (s.answerOrder) body += `<p class="meta">${esc(s.answerOrder)}</p>`;
  body += `<h2>The server's output</h2>\n${s.outputTail ? `<pre class="output">${esc(s.outputTail)}</pre>` : '<p class="none">It printed nothing.</p>'}`;
  const checks = s.report?.checks ?? [];
  const required = checks.filter((r) => r.required);
  const optional = checks.filter((r) => !r.required);
  if (required.length) body += `<h2>Required (the handout)</h2>\n${required.map(checkSection).join('\n')}`;
  if (optional.length)
    body +=
      `<h2>Beyond the handout (reported, never counts against the ` +
      `submission)</h2>\n${optional.map(checkSection).join('\n')}`;
  const starts = s.report?.serverStarts ?? [];
  if (starts.length > 0) body += `<h2>The server's starts</h2>\n${starts.map(startSection).join('\n')}`;
  body +=
    `<p class="meta">Also: <a href="report.txt">report.txt</a>, <a ` +
    `href="report.json">report.json</a>, <a href="server.log">server.log</a>.</p>`;
  return page(`${s.name}: ${VERDICT_TEXT[s.verdict]}`, body);
}
