// Judging a connection's answers by the order of the server's events: was each A sent after its
// message's file was stored? No timing is involved, so a write microseconds after A is caught.
import type { AnswerOrder } from '../types.js';
import type { FileEvent, SendEvent, TraceEvent } from './parse.js';

const A = 0x41;
/** The status bytes (A, Q, R): what ends one answer's window. */
const STATUS = new Set([0x41, 0x51, 0x52]);

/** The sends of one connection (by the checker's port), as a list of status bytes with where each was sent. */
export function statusesOn(
  events: readonly TraceEvent[],
  peerPort: number,
): { byte: number; at: number; cut: boolean }[] {
  const out: { byte: number; at: number; cut: boolean }[] = [];
  for (const e of events) {
    if (e.kind !== 'send' || e.peerPort !== peerPort) continue;
    for (const byte of e.bytes) if (STATUS.has(byte)) out.push({ byte, at: e.at, cut: e.cut });
  }
  return out;
}

/** Whether the connection shows up in the trace at all (any send on it). */
export function seesConnection(events: readonly TraceEvent[], peerPort: number): boolean {
  return events.some((e): e is SendEvent => e.kind === 'send' && e.peerPort === peerPort);
}

/**
 * For each A sent on the connection (the i-th A against `files[i]`): stored before it when the
 * file was written (or put in place) before the A and not written again after it.
 */
export function judgeAnswers(
  events: readonly TraceEvent[],
  peerPort: number,
  files: readonly (string | null)[],
): AnswerOrder[] {
  const answers = statusesOn(events, peerPort).filter((s) => s.byte === A);
  const fileEvents = events.filter((e): e is FileEvent => e.kind === 'file');
  const out: AnswerOrder[] = [];
  for (const [i, name] of files.entries()) {
    const answer = answers[i];
    if (answer === undefined) break;
    const n = i + 1;
    if (name === null) {
      out.push({ order: 'not-written', detail: `A ${n} was sent, and no k.txt held message ${n} afterwards` });
      continue;
    }
    const mine = fileEvents.filter((e) => e.name === name);
    const before = mine.filter((e) => e.at < answer.at);
    const after = mine.filter((e) => e.at > answer.at);
    if (after.length > 0) {
      const what = after[0]!.what;
      out.push({
        order: 'written-after',
        detail: `A ${n} was sent before the message was stored: ${name} was ${what} only after it`,
      });
    } else if (before.length === 0) {
      out.push({ order: 'not-written', detail: `A ${n} was sent, and the server never wrote ${name} before it` });
    } else {
      out.push({ order: 'stored-before', detail: `${name} was ${before.at(-1)!.what} before A ${n} was sent` });
    }
  }
  return out;
}
