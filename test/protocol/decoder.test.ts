import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Decoder,
  MessageReader,
  ProtocolError,
  encodeMessage,
  resolveLimits,
  type DecoderEvent,
  type Limits,
  type Line,
} from '../../src/protocol/index.js';

// ---------------------------------------------------------------------------------------------
// An independent stream builder: the fixtures never go through the encoder under test.
// ---------------------------------------------------------------------------------------------

type FixtureLine = string | Buffer;

/** The 4-byte big-endian count, written byte by byte. */
function cnt(n: number): Buffer {
  const b = Buffer.alloc(4);
  b[0] = Math.floor(n / 0x1000000) & 0xff;
  b[1] = (n >>> 16) & 0xff;
  b[2] = (n >>> 8) & 0xff;
  b[3] = n & 0xff;
  return b;
}

function lineBytes(line: FixtureLine): Buffer {
  return typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
}

/** Each line followed by one 0x0A. */
function bodyOf(lines: readonly FixtureLine[]): Buffer {
  const parts: Buffer[] = [];
  for (const l of lines) {
    parts.push(lineBytes(l), Buffer.from([0x0a]));
  }
  return Buffer.concat(parts);
}

/** A whole message on the wire. */
function wire(lines: readonly FixtureLine[]): Buffer {
  return Buffer.concat([cnt(lines.length), bodyOf(lines)]);
}

const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

// ---------------------------------------------------------------------------------------------
// Normalised events.
// ---------------------------------------------------------------------------------------------

type Where = 'push' | 'end';

/** What a decoder run produced, data events merged into one body per message. */
type Norm =
  | { type: 'start'; lines: number }
  | { type: 'body'; hex: string }
  | { type: 'end'; lines: number; bytes: number }
  /** Body bytes of a message that never ended (it was open when the error came), possibly empty. */
  | { type: 'partial'; data: Buffer }
  | { type: 'error'; code: string; at: Where };

/** What a case expects. */
type Exp =
  | { type: 'start'; lines: number }
  | { type: 'body'; hex: string }
  | { type: 'end'; lines: number; bytes: number }
  /** The partial body must equal `exact`, or (for limit errors) be a prefix of `prefixOf`. */
  | { type: 'partial'; exact?: Buffer; prefixOf?: Buffer }
  | { type: 'error'; code: string; at: Where };

interface Case {
  stream: Buffer;
  limits?: Partial<Limits>;
  expected: Exp[];
  /**
   * For an error raised by push(): index in `stream` of the byte whose arrival must raise it. The
   * error must come back from the push of the chunk holding that byte, however the stream is cut.
   */
  errorAtByte?: number;
}

/** The events a whole well-formed message must produce. */
function okEvents(lines: readonly FixtureLine[]): Exp[] {
  const body = bodyOf(lines);
  if (lines.length === 0) {
    return [
      { type: 'start', lines: 0 },
      { type: 'end', lines: 0, bytes: 0 },
    ];
  }
  return [
    { type: 'start', lines: lines.length },
    { type: 'body', hex: body.toString('hex') },
    { type: 'end', lines: lines.length, bytes: body.length },
  ];
}

interface WayResult {
  norm: Norm[];
  /** Index of the chunk whose push returned the first error, or -1. */
  errorChunk: number;
  error: ProtocolError | undefined;
}

/**
 * Feeds `chunks` to a fresh decoder, then calls end(). Checks the invariants every run must keep
 * (error is last and then repeated as the same object, data only inside a message and never
 * empty, end.bytes equals the data seen) and returns the normalised events.
 */
function runWay(chunks: readonly Uint8Array[], limits: Partial<Limits> | undefined, label: string): WayResult {
  const decoder = new Decoder(limits);
  const norm: Norm[] = [];
  let open: Buffer[] | null = null;
  let error: ProtocolError | undefined;
  let errorChunk = -1;

  const consume = (events: DecoderEvent[], at: Where, chunkIndex: number): void => {
    if (error) {
      assert.equal(events.length, 1, `${label}: after the error a call must return only the error`);
      const only = events[0];
      assert.ok(only && only.type === 'error', `${label}: after the error a call must return an error event`);
      assert.equal(only.error, error, `${label}: after the error the same error object must come back`);
      return;
    }
    for (const [i, ev] of events.entries()) {
      assert.ok(!error, `${label}: an event followed the error`);
      switch (ev.type) {
        case 'start':
          assert.equal(open, null, `${label}: start while a message is open`);
          assert.ok(Number.isInteger(ev.lines) && ev.lines >= 0, `${label}: bad start.lines ${ev.lines}`);
          norm.push({ type: 'start', lines: ev.lines });
          open = [];
          break;
        case 'data':
          assert.ok(open, `${label}: data outside a message`);
          assert.ok(Buffer.isBuffer(ev.data), `${label}: data is not a Buffer`);
          assert.ok(ev.data.length > 0, `${label}: empty data event`);
          open.push(Buffer.from(ev.data)); // copy: the chunk may be reused by the caller
          break;
        case 'end': {
          assert.ok(open, `${label}: end outside a message`);
          const body = Buffer.concat(open);
          if (body.length > 0) norm.push({ type: 'body', hex: body.toString('hex') });
          assert.equal(ev.bytes, body.length, `${label}: end.bytes differs from the data events' total`);
          norm.push({ type: 'end', lines: ev.lines, bytes: ev.bytes });
          open = null;
          break;
        }
        case 'error':
          assert.ok(ev.error instanceof ProtocolError, `${label}: error is not a ProtocolError`);
          assert.equal(i, events.length - 1, `${label}: the error must be the last event of the call`);
          if (open) norm.push({ type: 'partial', data: Buffer.concat(open) });
          open = null;
          norm.push({ type: 'error', code: ev.error.code, at });
          error = ev.error;
          errorChunk = at === 'push' ? chunkIndex : -1;
          assert.equal(decoder.error, ev.error, `${label}: decoder.error must be the reported error`);
          break;
      }
    }
  };

  chunks.forEach((chunk, i) => consume(decoder.push(chunk), 'push', i));
  consume(decoder.end(), 'end', chunks.length);
  // A second end() changes nothing.
  const again = decoder.end();
  if (error) {
    assert.equal(again.length, 1, `${label}: end() after the error must return the error`);
    assert.equal(again[0]?.type === 'error' ? again[0].error : undefined, error);
  } else {
    assert.deepEqual(again, [], `${label}: a second end() on a clean stream must return nothing`);
    assert.equal(open, null, `${label}: end() returned nothing but a message is open`);
    assert.equal(decoder.idle, true, `${label}: not idle after a clean stream`);
    const total = chunks.reduce((n, c) => n + c.length, 0);
    assert.equal(decoder.bytesConsumed, total, `${label}: bytesConsumed`);
  }
  return { norm, errorChunk, error };
}

function hexOf(b: Buffer): string {
  return b.toString('hex');
}

/** Compares a run with the expectation, partial bodies by their rule, all else exactly. */
function compare(actual: Norm[], expected: Exp[], label: string): void {
  const show = (xs: (Norm | Exp)[]): unknown =>
    xs.map((x) => {
      if (x.type !== 'partial') return x;
      if ('data' in x) return { type: 'partial', data: hexOf(x.data) };
      return {
        type: 'partial',
        ...(x.exact ? { exact: hexOf(x.exact) } : {}),
        ...(x.prefixOf ? { prefixOf: hexOf(x.prefixOf) } : {}),
      };
    });
  const msg = `${label}\n  actual:   ${JSON.stringify(show(actual))}\n  expected: ${JSON.stringify(show(expected))}`;
  assert.equal(actual.length, expected.length, msg);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (e.type === 'partial') {
      assert.ok(a.type === 'partial', msg);
      if (e.exact) assert.equal(hexOf(a.data), hexOf(e.exact), msg);
      if (e.prefixOf) {
        assert.ok(
          a.data.length <= e.prefixOf.length && a.data.equals(e.prefixOf.subarray(0, a.data.length)),
          `partial body is not a prefix of the bytes before the violation: ${msg}`,
        );
      }
    } else {
      assert.deepEqual(a, e, msg);
    }
  }
}

/** Index of the chunk that holds stream byte `k`. */
function chunkHolding(chunks: readonly Uint8Array[], k: number): number {
  let end = 0;
  for (const [i, c] of chunks.entries()) {
    end += c.length;
    if (end > k) return i;
  }
  return -1;
}

function checkWay(c: Case, chunks: Buffer[], label: string): void {
  const r = runWay(chunks, c.limits, label);
  compare(r.norm, c.expected, label);
  if (c.errorAtByte !== undefined) {
    assert.equal(
      r.errorChunk,
      chunkHolding(chunks, c.errorAtByte),
      `${label}: the error must come with the chunk holding byte ${c.errorAtByte}`,
    );
  }
}

/** Largest stream for which every pair of cut points is tried. */
const THREE_WAY_MAX = 64;

/**
 * Runs a case three ways: as one chunk, cut at every index into two (empty chunks at the ends
 * included), for small streams cut at every pair of indices into three, and byte by byte.
 */
function runCase(c: Case): void {
  const s = c.stream;
  checkWay(c, [s], 'one chunk');
  for (let i = 0; i <= s.length; i++) {
    checkWay(c, [s.subarray(0, i), s.subarray(i)], `cut at ${i}`);
  }
  if (s.length <= THREE_WAY_MAX) {
    for (let i = 0; i <= s.length; i++) {
      for (let j = i; j <= s.length; j++) {
        checkWay(c, [s.subarray(0, i), s.subarray(i, j), s.subarray(j)], `cut at ${i} and ${j}`);
      }
    }
  }
  const bytes: Buffer[] = [];
  for (let i = 0; i < s.length; i++) bytes.push(s.subarray(i, i + 1));
  checkWay(c, bytes, 'byte by byte');
}

/** A case whose expectation is that every message decodes cleanly. */
function okCase(messages: FixtureLine[][], limits?: Partial<Limits>): Case {
  return {
    stream: Buffer.concat(messages.map(wire)),
    ...(limits ? { limits } : {}),
    expected: messages.flatMap(okEvents),
  };
}

// ---------------------------------------------------------------------------------------------
// The builder itself (so a fixture bug cannot hide a decoder bug).
// ---------------------------------------------------------------------------------------------

describe('test fixture builder', () => {
  test('writes big-endian counts and \\n-terminated lines', () => {
    assert.deepEqual([...cnt(0x01020304)], [1, 2, 3, 4]);
    assert.deepEqual([...cnt(0xffffffff)], [255, 255, 255, 255]);
    assert.deepEqual([...wire(['hi', ''])], [0, 0, 0, 2, 0x68, 0x69, 0x0a, 0x0a]);
  });
});

// ---------------------------------------------------------------------------------------------
// Well-formed streams.
// ---------------------------------------------------------------------------------------------

describe('Decoder: well-formed streams, every way of cutting them', () => {
  test('one message', () => {
    runCase(okCase([['hello', 'world']]));
  });

  test('several messages and the quit in one stream', () => {
    runCase(okCase([['a'], ['bb', 'ccc'], ['x', 'y', 'z'], []]));
  });

  test('empty lines', () => {
    runCase(okCase([[''], ['', '', ''], ['', 'a', '']]));
  });

  test('\\r, tabs, multi-byte UTF-8, 0x00 and non-UTF-8 bytes are kept exactly', () => {
    runCase(
      okCase([
        ['a\rb\r', '\r', '\tx\t', 'héllo ✓ 😀'],
        [Buffer.from([0x00]), Buffer.from([0x41, 0x00, 0x42]), Buffer.from([0xff, 0xfe, 0x80, 0x0d])],
      ]),
    );
  });

  test('a zero-line (quit) message alone', () => {
    runCase(okCase([[]]));
  });

  test('an empty stream gives no events and no error at end()', () => {
    runCase({ stream: Buffer.alloc(0), expected: [] });
  });

  test('a count needing all four bytes is read big-endian', () => {
    // 258 = 00 00 01 02: a little-endian or 1-byte reading would get another count.
    const lines = Array.from({ length: 258 }, (_, i) => (i % 7 === 0 ? 'x' : ''));
    runCase(okCase([lines, ['end']]));
  });

  test("the template client's split count: 00 00 then 00 NN", () => {
    const d = new Decoder();
    assert.deepEqual(d.push(Buffer.from([0, 0])), []);
    assert.equal(d.idle, false, 'half a count is not idle');
    const events = d.push(cat(Buffer.from([0, 2]), ascii('ab\ncd\n')));
    assert.deepEqual(
      events.map((e) => (e.type === 'data' ? { type: 'data', text: e.data.toString() } : e)),
      [
        { type: 'start', lines: 2 },
        { type: 'data', text: 'ab\ncd\n' },
        { type: 'end', lines: 2, bytes: 6 },
      ],
    );
    assert.equal(d.idle, true);
    assert.deepEqual(d.end(), []);
    // And the same cut in the general helper, with a quit after it.
    runCase(okCase([['ab', 'cd'], []]));
  });

  test('end() between messages gives no error', () => {
    const d = new Decoder();
    d.push(wire(['a']));
    assert.equal(d.idle, true);
    assert.deepEqual(d.end(), []);
    assert.equal(d.error, undefined);
  });

  test('line and message sizes are counted per line and per message, not cumulatively', () => {
    runCase(okCase([['ab', 'cd', 'ef'], ['gh'], ['ij']], { maxLineBytes: 2, maxMessageBytes: 9 }));
    runCase(okCase([['ab'], ['cd'], ['ef']], { maxMessageBytes: 3 }));
  });

  test('10,000 small messages in one buffer give exactly 10,000 end events', () => {
    const messages: string[][] = [];
    for (let i = 0; i < 10_000; i++) messages.push(i % 3 === 0 ? [`m${i}`] : [`m${i}`, '', 'x']);
    const stream = Buffer.concat(messages.map(wire));
    const d = new Decoder();
    const events = d.push(stream);
    const ends = events.filter((e) => e.type === 'end');
    assert.equal(ends.length, 10_000);
    assert.equal(events.filter((e) => e.type === 'start').length, 10_000);
    for (const [i, e] of ends.entries()) {
      const lines = messages[i]!;
      assert.deepEqual(e, { type: 'end', lines: lines.length, bytes: bodyOf(lines).length }, `message ${i}`);
    }
    assert.equal(d.idle, true);
    assert.equal(d.bytesConsumed, stream.length);
    assert.deepEqual(d.end(), []);
  });
});

describe('Decoder: data events are views, not copies', () => {
  test('single-chunk input: every data event shares the chunk memory', () => {
    const chunk = cat(wire(['alpha', 'beta']), wire(['gamma']));
    const events = new Decoder().push(chunk);
    const data = events.filter((e): e is Extract<DecoderEvent, { type: 'data' }> => e.type === 'data');
    assert.equal(data.length, 2);
    for (const ev of data) {
      assert.equal(ev.data.buffer, chunk.buffer, 'data event is not a view of the chunk');
    }
    assert.equal(data[0]!.data.byteOffset, chunk.byteOffset + 4);
    assert.equal(data[1]!.data.byteOffset, chunk.byteOffset + 4 + 11 + 4);
    // Writing into the chunk shows through the view.
    chunk[4] = 0x41;
    assert.equal(data[0]!.data.toString(), 'Alpha\nbeta\n');
  });

  test('a plain Uint8Array at an offset inside a larger ArrayBuffer is viewed too', () => {
    const backing = new ArrayBuffer(64);
    const bytes = wire(['xyz']);
    const view = new Uint8Array(backing, 10, bytes.length);
    view.set(bytes);
    const events = new Decoder().push(view);
    const ev = events.find((e) => e.type === 'data');
    assert.ok(ev && ev.type === 'data');
    assert.equal(ev.data.buffer, backing);
    assert.equal(ev.data.byteOffset, 14);
    assert.equal(ev.data.toString(), 'xyz\n');
  });
});

// ---------------------------------------------------------------------------------------------
// Limits and errors, just under and just over.
// ---------------------------------------------------------------------------------------------

describe('Decoder: LINEDROP_ERR_TOO_MANY_LINES', () => {
  const limits = { maxLines: 3 };

  test('a count equal to maxLines is fine', () => {
    runCase(okCase([['a', 'b', 'c']], limits));
  });

  test('maxLines + 1 fails right after the 4th count byte, with no line following', () => {
    runCase({
      stream: cnt(4),
      limits,
      expected: [{ type: 'error', code: 'LINEDROP_ERR_TOO_MANY_LINES', at: 'push' }],
      errorAtByte: 3,
    });
  });

  test('maxLines + 1 fails at the count even when lines follow, after earlier messages', () => {
    const first = wire(['ok']);
    runCase({
      stream: cat(first, cnt(4), ascii('a\nb\nc\nd\n')),
      limits,
      expected: [...okEvents(['ok']), { type: 'error', code: 'LINEDROP_ERR_TOO_MANY_LINES', at: 'push' }],
      errorAtByte: first.length + 3,
    });
  });

  test('the limit is compared with the big-endian count', () => {
    // 0A 00 00 00 read little-endian would be 10, under the limit.
    runCase({
      stream: cnt(0x0a000000),
      limits: { maxLines: 10 },
      expected: [{ type: 'error', code: 'LINEDROP_ERR_TOO_MANY_LINES', at: 'push' }],
      errorAtByte: 3,
    });
  });

  test('maxLines 0 allows only the quit message', () => {
    runCase(okCase([[]], { maxLines: 0 }));
    runCase({
      stream: wire(['a']),
      limits: { maxLines: 0 },
      expected: [{ type: 'error', code: 'LINEDROP_ERR_TOO_MANY_LINES', at: 'push' }],
      errorAtByte: 3,
    });
  });

  test('a count of 0xFFFFFFFF fails with the default limits', () => {
    runCase({
      stream: Buffer.from([0xff, 0xff, 0xff, 0xff]),
      expected: [{ type: 'error', code: 'LINEDROP_ERR_TOO_MANY_LINES', at: 'push' }],
      errorAtByte: 3,
    });
  });
});

describe('Decoder: LINEDROP_ERR_LINE_TOO_LONG', () => {
  const limits = { maxLineBytes: 4 };

  test('a line of exactly maxLineBytes is fine', () => {
    runCase(okCase([['abcd', '', 'wxyz']], limits));
  });

  test('maxLineBytes + 1 bytes fail before any \\n arrives', () => {
    runCase({
      stream: cat(cnt(1), ascii('abcde')),
      limits,
      expected: [
        { type: 'start', lines: 1 },
        { type: 'partial', prefixOf: ascii('abcd') },
        { type: 'error', code: 'LINEDROP_ERR_LINE_TOO_LONG', at: 'push' },
      ],
      errorAtByte: 4 + 4,
    });
  });

  test('maxLineBytes + 1 bytes and the \\n: the error still comes with the 5th byte', () => {
    runCase({
      stream: cat(cnt(1), ascii('abcde\n')),
      limits,
      expected: [
        { type: 'start', lines: 1 },
        { type: 'partial', prefixOf: ascii('abcd') },
        { type: 'error', code: 'LINEDROP_ERR_LINE_TOO_LONG', at: 'push' },
      ],
      errorAtByte: 8,
    });
  });

  test('a later line that is too long, after a complete message', () => {
    const first = wire(['abcd']);
    runCase({
      stream: cat(first, cnt(3), ascii('ab\n\ncdefg\n')),
      limits,
      expected: [
        ...okEvents(['abcd']),
        { type: 'start', lines: 3 },
        { type: 'partial', prefixOf: ascii('ab\n\ncdef') },
        { type: 'error', code: 'LINEDROP_ERR_LINE_TOO_LONG', at: 'push' },
      ],
      errorAtByte: first.length + 4 + 4 + 4, // the 'g'
    });
  });

  test('maxLineBytes 0 allows only empty lines', () => {
    runCase(okCase([['', '']], { maxLineBytes: 0 }));
    runCase({
      stream: cat(cnt(2), ascii('\nx')),
      limits: { maxLineBytes: 0 },
      expected: [
        { type: 'start', lines: 2 },
        { type: 'partial', prefixOf: ascii('\n') },
        { type: 'error', code: 'LINEDROP_ERR_LINE_TOO_LONG', at: 'push' },
      ],
      errorAtByte: 5,
    });
  });
});

describe('Decoder: LINEDROP_ERR_MESSAGE_TOO_LARGE', () => {
  const limits = { maxMessageBytes: 6 };

  test('a body of exactly maxMessageBytes (every \\n counted) is fine', () => {
    runCase(okCase([['ab', 'cd'], ['abcde'], ['', '', '', '', '', '']], limits));
  });

  test('one byte more fails, on the final \\n', () => {
    runCase({
      stream: cat(cnt(2), ascii('ab\ncde\n')),
      limits,
      expected: [
        { type: 'start', lines: 2 },
        { type: 'partial', prefixOf: ascii('ab\ncde') },
        { type: 'error', code: 'LINEDROP_ERR_MESSAGE_TOO_LARGE', at: 'push' },
      ],
      errorAtByte: 4 + 6,
    });
  });

  test('one byte more fails before the line ends', () => {
    runCase({
      stream: cat(cnt(2), ascii('ab\ncdef')),
      limits,
      expected: [
        { type: 'start', lines: 2 },
        { type: 'partial', prefixOf: ascii('ab\ncde') },
        { type: 'error', code: 'LINEDROP_ERR_MESSAGE_TOO_LARGE', at: 'push' },
      ],
      errorAtByte: 4 + 6,
    });
  });

  test('empty lines alone can overflow the body', () => {
    runCase({
      stream: cat(wire(['x']), cnt(7), ascii('\n\n\n\n\n\n\n')),
      limits,
      expected: [
        ...okEvents(['x']),
        { type: 'start', lines: 7 },
        { type: 'partial', prefixOf: ascii('\n\n\n\n\n\n') },
        { type: 'error', code: 'LINEDROP_ERR_MESSAGE_TOO_LARGE', at: 'push' },
      ],
      errorAtByte: 6 + 4 + 6,
    });
  });
});

describe('Decoder: LINEDROP_ERR_TRUNCATED and end()', () => {
  for (const k of [1, 2, 3]) {
    test(`end() after ${k} byte(s) of a count`, () => {
      runCase({
        stream: cnt(1).subarray(0, k),
        expected: [{ type: 'error', code: 'LINEDROP_ERR_TRUNCATED', at: 'end' }],
      });
      runCase({
        stream: cat(wire(['done']), cnt(258).subarray(0, k)),
        expected: [...okEvents(['done']), { type: 'error', code: 'LINEDROP_ERR_TRUNCATED', at: 'end' }],
      });
    });
  }

  test('end() right after a complete count', () => {
    runCase({
      stream: cnt(2),
      expected: [
        { type: 'start', lines: 2 },
        { type: 'partial', exact: Buffer.alloc(0) },
        { type: 'error', code: 'LINEDROP_ERR_TRUNCATED', at: 'end' },
      ],
    });
  });

  test('end() in the middle of a line and between two lines of a message', () => {
    runCase({
      stream: cat(cnt(3), ascii('ab\ncd')),
      expected: [
        { type: 'start', lines: 3 },
        { type: 'partial', exact: ascii('ab\ncd') },
        { type: 'error', code: 'LINEDROP_ERR_TRUNCATED', at: 'end' },
      ],
    });
    runCase({
      stream: cat(wire([]), cnt(3), ascii('ab\ncd\n')),
      expected: [
        ...okEvents([]),
        { type: 'start', lines: 3 },
        { type: 'partial', exact: ascii('ab\ncd\n') },
        { type: 'error', code: 'LINEDROP_ERR_TRUNCATED', at: 'end' },
      ],
    });
  });
});

describe('Decoder: after an error', () => {
  test('messages completed earlier in the failing chunk are reported before the error', () => {
    const d = new Decoder({ maxLines: 2 });
    const events = d.push(cat(wire(['a', 'b']), wire([]), cnt(3), ascii('x\ny\nz\n')));
    assert.deepEqual(
      events.map((e) => (e.type === 'data' ? `data:${e.data.toString()}` : e.type === 'error' ? e.error.code : e.type)),
      ['start', 'data:a\nb\n', 'end', 'start', 'end', 'LINEDROP_ERR_TOO_MANY_LINES'],
    );
  });

  test('every later push and end() returns the same error object and nothing else', () => {
    const d = new Decoder({ maxLineBytes: 2 });
    const first = d.push(cat(cnt(1), ascii('abc')));
    const last = first[first.length - 1];
    assert.ok(last && last.type === 'error');
    assert.equal(last.error.code, 'LINEDROP_ERR_LINE_TOO_LONG');
    assert.equal(d.error, last.error);
    const consumed = d.bytesConsumed;
    for (const chunk of [wire(['ok']), Buffer.alloc(0), wire([]), cnt(1)]) {
      const again = d.push(chunk);
      assert.equal(again.length, 1);
      assert.equal(again[0]?.type, 'error');
      assert.equal(again[0]?.type === 'error' && again[0].error, last.error);
    }
    assert.equal(d.bytesConsumed, consumed, 'bytes pushed after the error must not count as consumed');
    const atEnd = d.end();
    assert.equal(atEnd.length, 1);
    assert.equal(atEnd[0]?.type === 'error' && atEnd[0].error, last.error);
    assert.equal(d.idle, false);
  });

  test('a truncation error from end() sticks as well', () => {
    const d = new Decoder();
    d.push(Buffer.from([0, 0]));
    const [ev] = d.end();
    assert.ok(ev && ev.type === 'error');
    assert.equal(ev.error.code, 'LINEDROP_ERR_TRUNCATED');
    const again = d.push(wire(['x']));
    assert.equal(again.length, 1);
    assert.equal(again[0]?.type === 'error' && again[0].error, ev.error);
  });
});

describe('Decoder: limits crossed together', () => {
  // The same bytes must give the same error however TCP cuts them. Here byte 4 of the line ("d")
  // breaks maxMessageBytes (3) while the line only breaks maxLineBytes (5) at byte 6 ("f").
  test('the limit broken first in the stream is the one reported, whatever the chunking', () => {
    runCase({
      stream: cat(cnt(1), ascii('abcdef\n')),
      limits: { maxLineBytes: 5, maxMessageBytes: 3 },
      expected: [
        { type: 'start', lines: 1 },
        { type: 'partial', prefixOf: ascii('abc') },
        { type: 'error', code: 'LINEDROP_ERR_MESSAGE_TOO_LARGE', at: 'push' },
      ],
      errorAtByte: 4 + 3,
    });
  });
});

// ---------------------------------------------------------------------------------------------
// A huge line, in constant memory.
// ---------------------------------------------------------------------------------------------

describe('Decoder: a 64 MiB line without a newline', () => {
  test('fails with LINEDROP_ERR_LINE_TOO_LONG on the chunk that passes 1 MiB, without buffering', () => {
    const CHUNK = 64 * 1024;
    const TOTAL = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(CHUNK, 0x61); // reused for every push
    const d = new Decoder();
    assert.equal(d.limits.maxLineBytes, 1024 * 1024, 'this test assumes the default 1 MiB line limit');
    const before = process.memoryUsage().arrayBuffers;
    assert.deepEqual(d.push(cnt(1)), [{ type: 'start', lines: 1 }]);
    let dataBytes = 0;
    let errorAt = -1;
    let error: ProtocolError | undefined;
    let peak = 0;
    for (let i = 0; i < TOTAL / CHUNK; i++) {
      const events = d.push(chunk);
      for (const ev of events) {
        if (ev.type === 'data') {
          assert.equal(ev.data.buffer, chunk.buffer, 'data must be a view of the chunk');
          dataBytes += ev.data.length;
        } else if (ev.type === 'error') {
          if (!error) {
            error = ev.error;
            errorAt = i;
          } else {
            assert.equal(ev.error, error);
          }
        } else {
          assert.fail(`unexpected ${ev.type} event`);
        }
      }
      if (error) assert.equal(events.length, 1);
      if (i % 64 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    }
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    assert.ok(error, 'no error at all');
    assert.equal(error.code, 'LINEDROP_ERR_LINE_TOO_LONG');
    // 16 chunks make exactly 1 MiB (allowed); the 17th passes the limit.
    assert.equal(errorAt, 16, `error arrived with chunk ${errorAt + 1}, expected chunk 17`);
    assert.equal(dataBytes, 1024 * 1024, 'exactly the allowed 1 MiB was handed on as data');
    assert.ok(peak < 4 * 1024 * 1024, `arrayBuffers grew by ${peak} bytes`);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------------

/** Cut points (sorted, possibly repeated, so empty chunks happen) for a stream of length n. */
const cutsArb = fc.array(fc.nat({ max: 1_000_000 }), { maxLength: 12 });

function cutAt(stream: Buffer, rawCuts: readonly number[]): Buffer[] {
  const cuts = rawCuts.map((c) => c % (stream.length + 1)).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    chunks.push(stream.subarray(prev, c));
    prev = c;
  }
  chunks.push(stream.subarray(prev));
  return chunks;
}

/** Reads whole messages with MessageReader from the given chunks. */
function readAll(chunks: readonly Buffer[]): { lines: Buffer[]; bytes: number }[] {
  const reader = new MessageReader();
  const out: { lines: Buffer[]; bytes: number }[] = [];
  for (const c of chunks) out.push(...reader.push(c));
  reader.end();
  return out;
}

const noLf = (a: Uint8Array): Uint8Array => a.filter((b) => b !== 0x0a);
const byteLineArb = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map(noLf),
  // Lines made of the bytes a parser is most likely to trip on.
  fc.uint8Array({ maxLength: 12 }).map((a) => Uint8Array.from(a, (b) => [0x00, 0x0d, 0xff, 0x61, 0x09][b % 5]!)),
);
const stringLineArb = fc
  .oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 10 }), fc.string())
  .map((s) => s.replaceAll('\n', ''));

describe('Decoder: properties', () => {
  test('byte lines, encoded, cut anywhere, come back exactly', () => {
    fc.assert(
      fc.property(fc.array(fc.array(byteLineArb, { maxLength: 6 }), { maxLength: 6 }), cutsArb, (messages, cuts) => {
        const stream = Buffer.concat(messages.map((m) => encodeMessage(m)));
        const got = readAll(cutAt(stream, cuts));
        assert.equal(got.length, messages.length);
        got.forEach((m, i) => {
          const want = messages[i]!;
          assert.deepEqual(
            m.lines.map((l) => l.toString('hex')),
            want.map((l) => Buffer.from(l).toString('hex')),
          );
          assert.equal(
            m.bytes,
            want.reduce((n, l) => n + l.length + 1, 0),
          );
        });
      }),
      { numRuns: 1500 },
    );
  });

  test('string lines (unicode included), encoded as UTF-8, cut anywhere, come back exactly', () => {
    fc.assert(
      fc.property(fc.array(fc.array(stringLineArb, { maxLength: 6 }), { maxLength: 6 }), cutsArb, (messages, cuts) => {
        const stream = Buffer.concat(messages.map((m) => encodeMessage(m)));
        const got = readAll(cutAt(stream, cuts));
        assert.deepEqual(
          got.map((m) => m.lines.map((l) => l.toString('utf8'))),
          messages,
        );
      }),
      { numRuns: 1500 },
    );
  });

  test('mixed string and byte lines: the decoder events match the fixture builder', () => {
    const lineArb: fc.Arbitrary<Line> = fc.oneof(stringLineArb, byteLineArb);
    fc.assert(
      fc.property(fc.array(fc.array(lineArb, { maxLength: 5 }), { maxLength: 5 }), cutsArb, (messages, cuts) => {
        const fixture = messages.map((m) => m.map((l) => (typeof l === 'string' ? l : Buffer.from(l))));
        const stream = Buffer.concat(messages.map((m) => encodeMessage(m)));
        const c = okCase(fixture);
        assert.ok(stream.equals(c.stream), 'encoder and fixture builder disagree');
        checkWay(c, cutAt(stream, cuts), `cuts ${JSON.stringify(cuts)}`);
      }),
      { numRuns: 1000 },
    );
  });

  /**
   * A byte-at-a-time reference decoder over the whole stream: what the incremental decoder must
   * report for any chunking. A limit is broken by the first byte that takes a line or a body past
   * it; on the same byte the line limit is reported first.
   */
  function model(stream: Buffer, limits: Limits): { expected: Exp[]; errorAtByte?: number } {
    const out: Exp[] = [];
    let pos = 0;
    while (pos < stream.length) {
      if (stream.length - pos < 4) {
        out.push({ type: 'error', code: 'LINEDROP_ERR_TRUNCATED', at: 'end' });
        return { expected: out };
      }
      const n = stream[pos]! * 0x1000000 + (stream[pos + 1]! << 16) + (stream[pos + 2]! << 8) + stream[pos + 3]!;
      if (n > limits.maxLines) {
        out.push({ type: 'error', code: 'LINEDROP_ERR_TOO_MANY_LINES', at: 'push' });
        return { expected: out, errorAtByte: pos + 3 };
      }
      out.push({ type: 'start', lines: n });
      pos += 4;
      if (n === 0) {
        out.push({ type: 'end', lines: 0, bytes: 0 });
        continue;
      }
      const bodyStart = pos;
      let lineStart = pos;
      let seen = 0;
      for (let i = pos; ; i++) {
        if (i === stream.length) {
          out.push({ type: 'partial', exact: stream.subarray(bodyStart) });
          out.push({ type: 'error', code: 'LINEDROP_ERR_TRUNCATED', at: 'end' });
          return { expected: out };
        }
        const isLf = stream[i] === 0x0a;
        const fail = (code: string): { expected: Exp[]; errorAtByte: number } => {
          out.push({ type: 'partial', prefixOf: stream.subarray(bodyStart, i) });
          out.push({ type: 'error', code, at: 'push' });
          return { expected: out, errorAtByte: i };
        };
        if (!isLf && i - lineStart + 1 > limits.maxLineBytes) return fail('LINEDROP_ERR_LINE_TOO_LONG');
        if (i - bodyStart + 1 > limits.maxMessageBytes) return fail('LINEDROP_ERR_MESSAGE_TOO_LARGE');
        if (isLf) {
          lineStart = i + 1;
          if (++seen === n) {
            const body = stream.subarray(bodyStart, i + 1);
            out.push({ type: 'body', hex: body.toString('hex') });
            out.push({ type: 'end', lines: n, bytes: body.length });
            pos = i + 1;
            break;
          }
        }
      }
    }
    return { expected: out };
  }

  // Segments: mostly honest messages, some with a wrong count (which desynchronises the stream),
  // some with huge counts, plus raw bytes; the stream may then be cut short.
  const segmentArb = fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .array(byteLineArb, { maxLength: 5 })
        .map((ls) => Buffer.concat([cnt(ls.length), ...ls.flatMap((l) => [Buffer.from(l), Buffer.from([0x0a])])])),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.array(byteLineArb, { maxLength: 4 }),
          fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constant(0xffffffff), fc.nat()),
        )
        .map(([ls, n]) => Buffer.concat([cnt(n), ...ls.flatMap((l) => [Buffer.from(l), Buffer.from([0x0a])])])),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a.map((b) => [0, 0x0a, 0x61, 0xff][b % 4]!))),
    },
  );
  const limitsArb: fc.Arbitrary<Partial<Limits>> = fc.oneof(
    fc.record({ maxLineBytes: fc.integer({ min: 0, max: 10 }), maxMessageBytes: fc.integer({ min: 0, max: 24 }) }),
    fc.constant({}),
    fc.record({ maxLines: fc.integer({ min: 0, max: 6 }) }),
    fc.record({ maxLines: fc.integer({ min: 0, max: 6 }), maxLineBytes: fc.integer({ min: 0, max: 10 }) }),
    fc.record({ maxLines: fc.integer({ min: 0, max: 6 }), maxMessageBytes: fc.integer({ min: 0, max: 24 }) }),
    fc.record({ maxLineBytes: fc.integer({ min: 0, max: 10 }) }),
    fc.record({ maxMessageBytes: fc.integer({ min: 0, max: 24 }) }),
  );

  test('any stream, any limits, any chunking: events match a byte-at-a-time reference', () => {
    fc.assert(
      fc.property(
        fc.array(segmentArb, { maxLength: 6 }),
        fc.option(fc.nat(), { nil: undefined }),
        limitsArb,
        cutsArb,
        (segments, cutShort, limits, cuts) => {
          let stream = Buffer.concat(segments);
          if (cutShort !== undefined) stream = stream.subarray(0, cutShort % (stream.length + 1));
          const m = model(stream, resolveLimits(limits));
          const c: Case = {
            stream,
            limits,
            expected: m.expected,
            ...(m.errorAtByte !== undefined ? { errorAtByte: m.errorAtByte } : {}),
          };
          checkWay(c, cutAt(stream, cuts), `cuts ${JSON.stringify(cuts)}`);
          checkWay(c, [stream], 'one chunk');
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('MessageReader', () => {
  test('messages completed before a violation in the same chunk are returned; the error comes on the next call', () => {
    const reader = new MessageReader({ maxLines: 5 });
    const chunk = Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from('ok\n'), Buffer.from([0, 0, 0, 9])]);
    const messages = reader.push(chunk);
    assert.deepEqual(
      messages.map((m) => m.lines.map((l) => l.toString())),
      [['ok']],
    );
    assert.equal(reader.error?.code, 'LINEDROP_ERR_TOO_MANY_LINES');
    assert.throws(
      () => reader.push(Buffer.from('more')),
      (e: unknown) => e instanceof ProtocolError && e.code === 'LINEDROP_ERR_TOO_MANY_LINES',
    );
    assert.throws(
      () => reader.end(),
      (e: unknown) => e instanceof ProtocolError && e.code === 'LINEDROP_ERR_TOO_MANY_LINES',
    );
  });

  test('a violation with nothing completed before it throws at once', () => {
    const reader = new MessageReader({ maxLines: 5 });
    assert.throws(
      () => reader.push(Buffer.from([0, 0, 0, 9])),
      (e: unknown) => e instanceof ProtocolError && e.code === 'LINEDROP_ERR_TOO_MANY_LINES',
    );
  });
});
