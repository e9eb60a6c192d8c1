// Finding the `\n`s of a chunk: `indexOf` while lines are long, a word at a time once they are short.
/** The byte that ends a line: `\n`. */
export const LF = 0x0a;

/** Lines of at most this many bytes, on average, are scanned a word at a time rather than with `indexOf`. */
const DENSE_LINE_BYTES = 40;
/** How many lines `indexOf` finds before the density is checked. */
const PROBE_LINES = 32;

/**
 * Finds the ends of `\n`-terminated lines in a stream of buffers. Each scanner keeps its own
 * state (one per decoder, or one per file being counted): what its last `find` saw when the
 * buffer ran out, and whether the lines were short, a hint for the next call.
 *
 * Long lines are found with `indexOf` (memchr, one native call per line); when the lines turn out
 * to be short, the rest is counted four bytes at a time (SWAR, one pass in JavaScript with no call
 * per line), which is several times faster for lines of a few bytes.
 */
export class LineScanner {
  /** After a `find` that returned -1: how many `\n` it saw. */
  count = 0;
  /** After a `find` that returned -1: the index of the last `\n` it saw, or -1 for none. */
  last = -1;
  /** The lines seen last were short: the next `find` starts a word at a time. */
  dense = false;

  /**
   * Finds the end of the `lines`-th line of `buf` from `start`: returns the index just past its
   * `\n`, or -1 when the buffer holds fewer (then `count` and `last` say what it held).
   */
  find(buf: Buffer, start: number, lines: number): number {
    if (this.dense) return this.findDense(buf, start, lines, 0, -1);
    const end = buf.length;
    let count = 0;
    let last = -1;
    let pos = start;
    let probeFrom = start;
    while (pos < end) {
      const nl = buf.indexOf(LF, pos);
      if (nl === -1) break;
      last = nl;
      pos = nl + 1;
      if (++count === lines) return pos;
      if (count % PROBE_LINES === 0) {
        if (pos - probeFrom <= PROBE_LINES * DENSE_LINE_BYTES)
          return this.findDense(buf, pos, lines - count, count, last);
        probeFrom = pos;
      }
    }
    this.count = count;
    this.last = last;
    return -1;
  }

  /** The dense part of `find`: `want` more lines from `pos`; `count` and `last` so far. */
  private findDense(buf: Buffer, pos: number, want: number, count: number, last: number): number {
    const end = buf.length;
    const from = pos;
    let found = 0;
    // Stay dense for the next call unless the lines turn out long after all.
    this.dense = true;
    // Bytes up to a 4-byte boundary, one by one.
    while (pos < end && ((buf.byteOffset + pos) & 3) !== 0) {
      if (buf[pos] === LF) {
        last = pos;
        if (++found === want) return pos + 1;
      }
      pos++;
    }
    const wordCount = (end - pos) >>> 2;
    if (wordCount > 0) {
      const words = new Int32Array(buf.buffer, buf.byteOffset + pos, wordCount);
      let lastWord = -1;
      for (let i = 0; i < wordCount; i++) {
        // Exact per-byte test for 0x0A: a byte of y has its top bit set iff that byte of the word is \n.
        const x = words[i]! ^ 0x0a0a0a0a;
        const y = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x | 0x7f7f7f7f);
        if (y === 0) continue;
        const hits = Math.imul(y >>> 7, 0x01010101) >>> 24;
        if (found + hits >= want) {
          // The wanted \n is in this word.
          for (let at = pos + i * 4; ; at++) {
            if (buf[at] === LF && ++found === want) return at + 1;
          }
        }
        found += hits;
        lastWord = i;
      }
      if (lastWord !== -1) {
        const wordStart = pos + lastWord * 4;
        for (let at = wordStart + 3; at >= wordStart; at--) {
          if (buf[at] === LF) {
            last = at;
            break;
          }
        }
      }
      pos += wordCount * 4;
    }
    for (; pos < end; pos++) {
      if (buf[pos] === LF) {
        last = pos;
        if (++found === want) return pos + 1;
      }
    }
    this.count = count + found;
    this.last = last;
    this.dense = found * DENSE_LINE_BYTES * 2 >= end - from;
    return -1;
  }
}

/**
 * Finds the end of the `lines`-th line of `buf` from `start`: the index just past its `\n`, or
 * -1 when the buffer holds fewer. `dense` says the lines are expected to be short.
 */
export function scanLines(buf: Buffer, start: number, lines: number, dense = false): number {
  const scanner = new LineScanner();
  scanner.dense = dense;
  return scanner.find(buf, start, lines);
}
