// Messages to bytes: the 4-byte big-endian count and the lines, each with its `\n`.
import { invalidArgument, outOfRange } from '../errors.js';
import { MAX_WIRE_COUNT } from './limits.js';
import { LF } from './line-scanner.js';

export type Line = string | Uint8Array;

/** The zero-line message: "I am done sending; quit". */
export const QUIT_MESSAGE: Readonly<Buffer> = Buffer.alloc(4);

/**
 * The 4-byte big-endian line count.
 * @throws RangeError `LINEDROP_ERR_COUNT_OUT_OF_RANGE` unless 0 <= count <= 2^32-1.
 */
export function encodeCount(count: number): Buffer {
  if (!Number.isInteger(count) || count < 0 || count > MAX_WIRE_COUNT) {
    throw outOfRange(
      `count: expected a whole number from 0 to ${MAX_WIRE_COUNT}, not ${count}`,
      'LINEDROP_ERR_COUNT_OUT_OF_RANGE',
    );
  }
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(count, 0);
  return header;
}

/**
 * One whole message: the count, then each line followed by `\n`, in one exact allocation. Lines
 * are given without their `\n`; strings are sent as UTF-8. No lines gives the quit message.
 * @throws TypeError `LINEDROP_ERR_INVALID_LINE` if a line holds a `\n`; RangeError `LINEDROP_ERR_COUNT_OUT_OF_RANGE`
 * past 2^32-1 lines.
 */
export function encodeMessage(lines: readonly Line[]): Buffer {
  const header = encodeCount(lines.length);
  let size = 4;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (typeof line === 'string' ? line.includes('\n') : line.includes(LF)) {
      throw invalidArgument(`line ${i + 1} contains a newline; a line cannot hold "\\n"`, 'LINEDROP_ERR_INVALID_LINE');
    }
    size += (typeof line === 'string' ? Buffer.byteLength(line, 'utf8') : line.byteLength) + 1;
  }
  const out = Buffer.allocUnsafe(size);
  header.copy(out, 0);
  let pos = 4;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (typeof line === 'string') {
      pos += out.write(line, pos, 'utf8');
    } else {
      out.set(line, pos);
      pos += line.byteLength;
    }
    out[pos++] = LF;
  }
  return out;
}
