// The client checker's deviations in words: one function per kind, built from what the session
// recorded (offsets, counts, the bytes in question). The session decides when a client deviated;
// this file says how, with the hint that points a student at the likely fault.
import type { Deviation, MessageRecord } from './client-report.js';
import { plural } from '../text.js';
import { hex, quote } from './format.js';

/** A count of this many lines or more is not a line count (typically text read as a count). */
export const IMPLAUSIBLE_COUNT = 0x0100_0000;

/**
 * `count` (its bytes `countBytes`, at `offset`) is too large to be a line count; `previous` is the message before it.
 */
export function implausibleCount(
  count: number,
  countBytes: Buffer,
  offset: number,
  previous: MessageRecord | undefined,
): Deviation {
  const text = countBytes.every((b) => b >= 0x20 && b < 0x7f) ? ` = the text ${quote(countBytes)}` : '';
  const hint = previous
    ? `; message ${previous.index} probably had more lines than its count of ${previous.count} said`
    : '';
  return {
    kind: 'implausible-count',
    offset,
    message:
      `a count of ${count} lines ([${hex(countBytes)}]${text}) at offset ${offset} is not a ` +
      `plausible line count${hint}`,
  };
}

/**
 * The stream stopped inside message `record` (`why`: how it stopped). `line` holds the start of an
 * unfinished line (empty if there is none), which began at `lineOffset`. When that line is the
 * message's last, it is a missing-newline; otherwise lines are missing: a count-mismatch.
 */
export function stoppedInMessage(record: MessageRecord, line: Buffer, lineOffset: number, why: string): Deviation {
  if (line.length > 0 && record.linesReceived + 1 === record.count) {
    return {
      kind: 'missing-newline',
      offset: lineOffset,
      message:
        `line ${record.count} of ${record.count} of message ${record.index} (offset ` +
        `${lineOffset}: ${quote(line, 60)}) is not ended by \\n; ${why}${countHint(line)}`,
    };
  }
  const extra = line.length > 0 ? ` and part of another (offset ${lineOffset}: ${quote(line, 60)})` : '';
  return {
    kind: 'count-mismatch',
    offset: record.offset,
    message:
      `the count of message ${record.index} (offset ${record.offset}, [${record.countHex}]) ` +
      `says ${record.count} lines but ${record.linesReceived} arrived${extra}; ${why}`,
  };
}

/** The stream stopped `have` bytes into the count that starts at `offset`. */
export function partialCount(have: number, offset: number, why: string): Deviation {
  return {
    kind: 'partial-count',
    offset,
    message: `only ${have} of the 4 bytes of a count arrived (offset ${offset}); ${why}`,
  };
}

/**
 * The connection ended (`ended`) after `messages` whole messages, without the quit message; `offset`: the bytes
 * received.
 */
export function noQuit(ended: string, messages: number, offset: number): Deviation {
  return {
    kind: 'no-quit',
    offset,
    message: `${ended} after ${plural(messages, 'message')} without sending the quit message [00 00 00 00]`,
  };
}

/** `length` bytes came after the quit message, from `offset`; `first`: the first of them (32 are shown). */
export function bytesAfterQuit(length: number, first: Buffer, offset: number): Deviation {
  const shown = first.subarray(0, 32);
  return {
    kind: 'bytes-after-quit',
    offset,
    message:
      `${plural(length, 'byte')} after the quit message (from offset ${offset}): ` +
      `[${hex(shown)}] ${quote(shown, 40)}`,
  };
}

/** A hint when an unterminated line holds what looks like the next count (the quit, typically). */
function countHint(line: Buffer): string {
  if (line.length >= 4 && line.subarray(line.length - 4).equals(Buffer.alloc(4))) {
    return (
      ' (its last 4 bytes, 00 00 00 00, are the quit message: the client sent it right after a ' +
      'line without its \\n)'
    );
  }
  if (line.includes(Buffer.from([0, 0])))
    return ' (it holds 00 bytes, which look like a count: the line was probably sent without its \\n)';
  return '';
}
