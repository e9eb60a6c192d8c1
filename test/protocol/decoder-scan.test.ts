// The decoder's line scanner (indexOf for long lines, four bytes at a time for short ones) against
// a byte-by-byte reference: any density, any start, any alignment of the buffer in memory.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Decoder, encodeMessage } from '../../src/protocol/index.js';
import { LineScanner, scanLines } from '../../src/protocol/line-scanner.js';
import { countNewlines } from '../../src/protocol/newlines.js';

const LF = 0x0a;

/** A small deterministic generator (xorshift32). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/** Bytes where about one in `every` is `\n`; the others are anything but `\n`, 0x8a and 0x0b included. */
function bytes(random: () => number, length: number, every: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    if (random() * every < 1) b[i] = LF;
    else {
      const v = Math.floor(random() * 255);
      b[i] = v >= LF ? v + 1 : v;
    }
  }
  return b;
}

/** The same bytes, starting `shift` bytes into a larger allocation (so not 4-byte aligned). */
function shifted(b: Buffer, shift: number): Buffer {
  const big = Buffer.alloc(b.length + shift + 3, 0x0a);
  b.copy(big, shift);
  return big.subarray(shift, shift + b.length);
}

/**
 * Encodes `messages`, feeds the stream to a decoder in chunks of `nextSize()` bytes (each at a
 * random alignment) and checks that every message comes out whole and in order.
 */
function assertDecodedInChunks(messages: Buffer[][], nextSize: () => number, random: () => number, what: string): void {
  const stream = Buffer.concat(messages.map((lines) => encodeMessage(lines)));
  const decoder = new Decoder();
  const bodies: Buffer[] = [];
  let current: Buffer[] = [];
  for (let pos = 0; pos < stream.length; ) {
    const size = nextSize();
    const chunk = shifted(stream.subarray(pos, pos + size), Math.floor(random() * 4));
    pos += size;
    for (const event of decoder.push(chunk)) {
      if (event.type === 'data') current.push(Buffer.from(event.data));
      else if (event.type === 'end') {
        bodies.push(Buffer.concat(current));
        current = [];
      } else if (event.type === 'error') throw event.error;
    }
  }
  assert.deepEqual(decoder.end(), []);
  assert.equal(bodies.length, messages.length, `${what}: message count`);
  for (let m = 0; m < messages.length; m++) {
    assert.deepEqual(
      bodies[m],
      Buffer.concat(messages[m]!.map((l) => Buffer.concat([l, Buffer.from([LF])]))),
      `${what}, message ${m}`,
    );
  }
}

function referenceScan(b: Buffer, start: number, lines: number): number {
  let found = 0;
  for (let i = start; i < b.length; i++) if (b[i] === LF && ++found === lines) return i + 1;
  return -1;
}

describe('scanLines and countNewlines', () => {
  test('match a byte-by-byte scan for every density, start, target and alignment', () => {
    const random = rng(12345);
    for (let round = 0; round < 3000; round++) {
      const every = [1, 2, 3, 5, 10, 30, 40, 80, 100, 1000][round % 10]!;
      const length = Math.floor(random() * (round % 3 === 0 ? 5000 : 300));
      const b = shifted(bytes(random, length, every), Math.floor(random() * 4));
      const start = Math.floor(random() * (length + 1));
      const lines = 1 + Math.floor(random() * (length / every + 3));
      for (const dense of [false, true]) {
        assert.equal(
          scanLines(b, start, lines, dense),
          referenceScan(b, start, lines),
          `round ${round}, every ${every}, start ${start}, lines ${lines}, dense ${dense}`,
        );
      }
      let count = 0;
      for (const byte of b) if (byte === LF) count++;
      assert.equal(countNewlines(b), count, `round ${round}: count`);
    }
  });

  test('each LineScanner keeps its own count, last and density, whatever other scanners do meanwhile', () => {
    const short = Buffer.from('a\nb\nc\n'.repeat(200)); // 600 lines of 2 bytes
    const long = Buffer.from(`${'x'.repeat(99)}\n`.repeat(3)); // 3 lines of 100 bytes
    const a = new LineScanner();
    const b = new LineScanner();
    assert.equal(a.find(short, 0, 1000), -1);
    assert.equal(b.find(long, 0, 10), -1);
    assert.equal(b.find(long.subarray(0, 150), 0, 10), -1);
    assert.deepEqual([a.count, a.last, a.dense], [600, 1199, true]);
    assert.deepEqual([b.count, b.last, b.dense], [1, 99, false]);
    // The density hint only changes how a scanner looks, never what it finds.
    assert.equal(a.find(long, 0, 2), 200);
    assert.equal(b.find(short, 1, 2), 4);
  });

  test('the decoder finds message ends exactly in streams of short and long lines, cut anywhere', () => {
    const random = rng(777);
    for (let round = 0; round < 200; round++) {
      const messages: Buffer[][] = [];
      for (let m = 0; m < 1 + (round % 5); m++) {
        const lineLen = [0, 1, 3, 9, 39, 41, 99, 300][Math.floor(random() * 8)]!;
        const lines: Buffer[] = [];
        const count = 1 + Math.floor(random() * 400);
        for (let i = 0; i < count; i++) {
          const line = bytes(random, Math.floor(random() * (lineLen + 1)), Infinity);
          lines.push(line);
        }
        messages.push(lines);
      }
      assertDecodedInChunks(
        messages,
        () => 1 + Math.floor(random() * (round % 2 === 0 ? 64 : 5000)),
        random,
        `round ${round}`,
      );
    }
  });

  test('long messages cut into large chunks (each counted whole): the same bodies, cut anywhere', () => {
    const random = rng(4242);
    for (let round = 0; round < 12; round++) {
      const messages: Buffer[][] = [];
      for (let m = 0; m < 3; m++) {
        const lines: Buffer[] = [];
        const count = 2_000 + Math.floor(random() * 20_000);
        for (let i = 0; i < count; i++) {
          const lineLen = [0, 1, 5, 40, 99, 300][Math.floor(random() * 6)]!;
          lines.push(bytes(random, lineLen, Infinity));
        }
        messages.push(lines);
      }
      assertDecodedInChunks(messages, () => 16 * 1024 + Math.floor(random() * 64 * 1024), random, `round ${round}`);
    }
  });

  test(
    'line lengths stay right across large chunks counted whole: a line of exactly the limit ' +
      'passes, a longer one fails, whatever the cutting',
    () => {
      // The long lines come early: with 40,000 lines still to come, the chunks around them are counted whole.
      const lines = Array.from({ length: 3_000 }, (_, i) => Buffer.alloc(10 + (i % 80), 0x61));
      lines.push(Buffer.alloc(65_536, 0x62)); // exactly maxLineBytes, across chunks
      for (let i = 0; i < 1_000; i++) lines.push(Buffer.alloc(i % 50, 0x63));
      lines.push(Buffer.alloc(70_000, 0x64)); // longer than maxLineBytes
      for (let i = 0; i < 40_000; i++) lines.push(Buffer.alloc(i % 30, 0x65));
      const stream = encodeMessage(lines);
      const errorFor = (size: number): string => {
        const decoder = new Decoder({ maxLineBytes: 65_536 });
        for (let pos = 0; pos < stream.length; pos += size) {
          for (const event of decoder.push(stream.subarray(pos, pos + size))) {
            if (event.type === 'error') return `${event.error.code}: ${event.error.message}`;
          }
        }
        return 'none';
      };
      const expected = 'LINEDROP_ERR_LINE_TOO_LONG: line 4002 of 44002 is longer than 65536 bytes';
      for (const size of [1_000, 16 * 1024, 64 * 1024, 64 * 1024 + 7, 200_000])
        assert.equal(errorFor(size), expected, `chunks of ${size} bytes`);
    },
  );
});
