// The checkers' reports as text for people (colours: see colour.ts).
import type { ClientConnectionReport } from '../client-report.js';
import { plural } from '../../text.js';
import { quote } from '../format.js';
import type { CheckReport, CheckResult } from '../types.js';
import { plain, type Style } from './colour.js';
import { formatAddress } from '../../net-address.js';

const INDENT = '        ';

/** The report's first lines. */
export function serverReportHeader(target: string, dir: string | undefined, s: Style = plain): string {
  return `${s.bold(`linedrop check ${target}`)}${dir !== undefined ? ` (server folder: ${dir})` : ' (no server folder: the k.txt checks are skipped)'}\n`;
}

export function sectionTitle(required: boolean, s: Style = plain): string {
  return required
    ? `\n${s.bold('Required (the handout)')}\n`
    : `\n${s.bold('Beyond the handout (optional: reported, never fails the exit status)')}\n`;
}

/** One check: its status and title, then what was sent, expected and seen. */
export function checkText(r: CheckResult, s: Style = plain): string {
  const label =
    r.status === 'pass'
      ? s.pass('PASS')
      : r.status === 'fail'
        ? s.fail('FAIL')
        : r.status === 'skip'
          ? s.skip('SKIP')
          : s.dim('N/A ');
  const head = `  ${label}  ${s.bold(r.name)}  ${s.dim(r.title)}\n`;
  if (r.status === 'skip' && r.sent === 'nothing') return `${head}${INDENT}${r.seen}\n`;
  let out = head;
  out += `${INDENT}${s.dim('sent:    ')} ${r.sent}\n`;
  out += `${INDENT}${s.dim('expected:')} ${r.expected}\n`;
  out += `${INDENT}${s.dim('seen:    ')} ${r.seen}\n`;
  for (const note of r.notes) out += `${INDENT}${s.dim('note:    ')} ${note}\n`;
  return out;
}

/** The closing lines: counts, what needs a restart, and the verdict. */
export function serverReportSummary(report: CheckReport, s: Style = plain): string {
  const { summary } = report;
  const req = summary.required;
  const opt = summary.optional;
  let out = '\n';
  if (report.error) out += `${s.fail('error:')} ${report.error}\n`;
  if (summary.needRestart.length > 0) {
    const after = summary.serverGoneAfter ? ` after the check ${summary.serverGoneAfter}` : '';
    out +=
      `The server stopped accepting connections${after} (a lab server that serves one ` +
      `connection and exits does this).\n`;
    out +=
      `${plural(summary.needRestart.length, 'check')} need a restart of the server: ` +
      `${summary.needRestart.join(', ')}.\n`;
    if (report.options.restartCmd === null)
      out +=
        'Run again with --restart-cmd "the command that starts the server" and the checker ' +
        'restarts it between checks.\n';
  }
  if (summary.restarts > 0)
    out +=
      `The checker started the server ` +
      `${plural(summary.restarts, 'time')} with ${JSON.stringify(report.options.restartCmd)}.\n`;
  const na = (n: number): string => (n > 0 ? `, ${n} not applicable` : '');
  out += `Required: ${req.passed} passed, ${req.failed} failed, ${req.skipped} skipped${na(req.notApplicable)}. `;
  out +=
    `Beyond the handout: ${opt.passed} passed, ${opt.failed} failed, ${opt.skipped} ` +
    `skipped${na(opt.notApplicable)}. (${(report.ms / 1000).toFixed(1)} s)\n`;
  const consequences = report.checks.filter((r) => r.status === 'fail' && r.causedBy !== undefined).length;
  if (summary.firstFailure) {
    const follows = `${plural(consequences, 'other failure')} ${consequences === 1 ? 'follows' : 'follow'} from earlier ones`;
    out += `Fix first: ${summary.firstFailure}${consequences > 0 ? ` (${follows})` : ''}.\n`;
  }
  const verdict =
    summary.exitCode === 0
      ? s.pass('Every required check that ran passed.')
      : summary.exitCode === 3
        ? s.fail('Could not connect to the server at all.')
        : req.failed > 0
          ? s.fail(`${plural(req.failed, 'required check')} failed.`)
          : summary.interrupted
            ? s.fail('Interrupted before every required check ran.')
            : summary.needRestart.length > 0
              ? s.fail('Some required checks could not run (the server needs a restart).')
              : s.fail(
                  `Not a pass: ${plural(summary.requiredNotRun.length, 'required check')} did not ` +
                    `run to a verdict (${summary.requiredNotRun.join(', ')}).`,
                );
  return `${out}${verdict}\n`;
}

/** The whole report at once (the CLI prints it piece by piece as checks end). */
export function serverReportText(report: CheckReport, s: Style = plain): string {
  const target = formatAddress(report.target.host, report.target.port);
  let out = serverReportHeader(target, report.dir ?? undefined, s);
  let section: boolean | undefined;
  for (const r of report.checks) {
    if (r.required !== section) {
      section = r.required;
      out += sectionTitle(r.required, s);
    }
    out += checkText(r, s);
  }
  return out + serverReportSummary(report, s);
}

const MAX_LINES_SHOWN = 10;
const MAX_CHUNKS_SHOWN = 12;

/** One client connection as the client checker saw it. */
export function clientReportText(r: ClientConnectionReport, s: Style = plain): string {
  const verdict = r.ok ? s.pass('no deviations') : s.fail(plural(r.deviations.length, 'deviation'));
  const files = r.messages.filter((m) => m.complete).length;
  const title = s.bold(`connection ${r.connection} from ${r.remote}`);
  const took = `${r.bytes} bytes in ${(r.ms / 1000).toFixed(2)} s`;
  let out = `${title}: ${plural(files, 'message')}${r.quit ? ', quit' : ', no quit'}, ${verdict} (${took})\n`;
  const reads = r.chunks.slice(0, MAX_CHUNKS_SHOWN).map((c) => `${plural(c.length, 'byte')} at ${c.ms} ms`);
  const more = r.chunks.length - MAX_CHUNKS_SHOWN + r.chunksOmitted;
  out += `  ${s.dim('reads:')} ${reads.join(', ') || 'none'}${more > 0 ? `, … ${more} more` : ''}\n`;
  for (const m of r.messages) {
    out += `  message ${m.index} at offset ${m.offset}: count [${m.countHex}] = ${plural(m.count, 'line')}\n`;
    for (const line of m.lines.slice(0, MAX_LINES_SHOWN))
      out += `    ${s.dim(`offset ${line.offset}:`)} ${quote(`${line.text}\n`, 70)}\n`;
    if (m.linesReceived > MAX_LINES_SHOWN) out += `    ${s.dim(`… ${m.linesReceived - MAX_LINES_SHOWN} more lines`)}\n`;
    if (m.complete)
      out += `    → ${m.file ? `saved as ${m.file} (${m.bytes} bytes), ` : ''}answered ${m.status ?? '-'}\n`;
    else out += `    → incomplete: ${m.linesReceived} of ${m.count} lines, not saved, not answered\n`;
  }
  if (r.quit) out += `  quit [00 00 00 00] at offset ${r.quit.offset} → answered Q\n`;
  out += `  ${r.end}\n`;
  for (const d of r.deviations)
    out += `  ${s.fail('DEVIATION')} ${s.bold(d.kind)} at offset ${d.offset}: ${d.message}\n`;
  for (const n of r.notes) out += `  ${s.skip('note:')} ${n}\n`;
  return out;
}
