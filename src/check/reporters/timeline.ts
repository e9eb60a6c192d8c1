// A check's conversation as an HTML timeline: what the checker sent and when, what the server
// answered and when, each connection's opening and end, and the pauses between them.
import type { ConversationEvent } from '../types.js';
import { escapeXml as esc } from './xml.js';

/** A gap this long between two events is shown as a pause of its own. */
const PAUSE_MS = 200;
const MAX_BYTES_SHOWN = 48;
/** A longer conversation shows its first and last rows, and how many were left out between. */
const MAX_EVENTS = 400;
const TAIL_EVENTS = 50;

const WHO: Record<ConversationEvent['kind'], string> = {
  connect: 'checker',
  sent: 'checker → server',
  received: 'server → checker',
  closed: '',
  reset: '',
  refused: '',
  timeout: 'checker',
  note: 'checker',
};

/** `00 00 00 02 61 6c` and `····al`: the bytes in hex, and as text where they are printable. */
function bytesCell(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  const shown = bytes.subarray(0, MAX_BYTES_SHOWN);
  const hexText = Array.from(shown, (b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = Array.from(shown, (b) => (b === 0x0a ? '↵' : b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '·')).join(
    '',
  );
  const more = bytes.length > MAX_BYTES_SHOWN ? ` … (${bytes.length} bytes)` : '';
  return (
    `<code class="hex">${esc(hexText)}${esc(more)}</code> <code ` +
    `class="txt">${esc(text)}</code> <span class="n">${bytes.length} B</span>`
  );
}

function what(e: ConversationEvent): string {
  switch (e.kind) {
    case 'connect':
      return 'connected';
    case 'sent':
    case 'received':
      return e.hex !== undefined ? bytesCell(e.hex) : esc(e.text ?? '');
    case 'closed':
      return `connection closed${e.text ? `: ${esc(e.text)}` : ''}`;
    case 'reset':
      return `connection reset${e.text ? `: ${esc(e.text)}` : ''}`;
    case 'refused':
      return `connection refused${e.text ? `: ${esc(e.text)}` : ''}`;
    case 'timeout':
      return `no answer${e.text ? `: ${esc(e.text)}` : ''}`;
    case 'note':
      return esc(e.text ?? '');
  }
}

function ms(at: number): string {
  return at >= 10_000 ? `${(at / 1000).toFixed(2)} s` : `${Math.round(at)} ms`;
}

/** The timeline as a table (no script needed); an empty list says so. */
export function timelineHtml(events: readonly ConversationEvent[] | undefined): string {
  if (!events || events.length === 0) return '<p class="none">No conversation was recorded for this check.</p>';
  let rows = '';
  let last: number | undefined;
  const cut = events.length > MAX_EVENTS ? MAX_EVENTS - TAIL_EVENTS : Number.POSITIVE_INFINITY;
  for (const [i, e] of events.entries()) {
    if (i >= cut && i < events.length - TAIL_EVENTS) {
      if (i === cut)
        rows +=
          `<tr class="pause"><td></td><td></td><td colspan="2">… ` +
          `${events.length - MAX_EVENTS} more events (see report.json) …</td></tr>\n`;
      last = e.at;
      continue;
    }
    if (last !== undefined && e.at - last >= PAUSE_MS) {
      rows +=
        `<tr class="pause"><td></td><td></td><td colspan="2">… ` +
        `${((e.at - last) / 1000).toFixed(2)} s with nothing on the wire …</td></tr>\n`;
    }
    last = e.at;
    rows +=
      `<tr class="ev ${e.kind}"><td class="at">${ms(e.at)}</td><td ` +
      `class="conn">#${e.conn}</td><td class="who">${esc(WHO[e.kind])}</td><td class="what">${what(e)}</td></tr>\n`;
  }
  return `<table class="timeline"><thead><tr><th>time</th><th>conn</th><th>who</th><th>what</th></tr></thead><tbody>\n${rows}</tbody></table>`;
}
