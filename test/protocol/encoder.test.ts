import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_LIMITS,
  Decoder,
  ProtocolError,
  QUIT_MESSAGE,
  decodeAll,
  encodeCount,
  encodeMessage,
  resolveLimits,
  splitLines,
  type Limits,
  type Line,
} from '../../src/protocol/index.js';

/** Expected bytes, written out by hand. */
const bytes = (...b: number[]): Buffer => Buffer.from(b);

/**
 * Asserts `fn` throws the error for `code` (and a message matching `message`, if given): the
 * caller's mistakes are a `TypeError` (a line) or a `RangeError` (a count), what the bytes break a
 * `ProtocolError`.
 */
function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    const kind =
      code === 'LINEDROP_ERR_INVALID_LINE'
        ? TypeError
        : code === 'LINEDROP_ERR_COUNT_OUT_OF_RANGE'
          ? RangeError
          : ProtocolError;
    assert.ok(
      err instanceof kind && (kind === ProtocolError || !(err instanceof ProtocolError)),
      `expected a ${kind.name}, got ${String(err)}`,
    );
    assert.equal((err as { code?: string }).code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** An independent builder: count by hand, then each line and 0x0A. */
function wire(lines: readonly Line[]): Buffer {
  const n = lines.length;
  const parts: Buffer[] = [Buffer.from([Math.floor(n / 0x1000000) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255])];
  for (const l of lines) parts.push(typeof l === 'string' ? Buffer.from(l, 'utf8') : Buffer.from(l), Buffer.from([10]));
  return Buffer.concat(parts);
}

describe('encodeMessage: exact bytes', () => {
  test("['hi', ''] is 00 00 00 02 68 69 0a 0a", () => {
    assert.deepEqual(encodeMessage(['hi', '']), bytes(0, 0, 0, 2, 0x68, 0x69, 0x0a, 0x0a));
  });

  test('one empty line', () => {
    assert.deepEqual(encodeMessage(['']), bytes(0, 0, 0, 1, 0x0a));
  });

  test('strings are UTF-8 and sized by bytes, not string length', () => {
    // 'é' is 1 UTF-16 unit / 2 bytes; '😀' is 2 UTF-16 units / 4 bytes; '✓' 1 unit / 3 bytes.
    const out = encodeMessage(['é', '😀', '✓']);
    assert.deepEqual(out, bytes(0, 0, 0, 3, 0xc3, 0xa9, 0x0a, 0xf0, 0x9f, 0x98, 0x80, 0x0a, 0xe2, 0x9c, 0x93, 0x0a));
    assert.equal(out.length, 16);
  });

  test('\\r, tab and NUL inside string lines are sent as they are', () => {
    assert.deepEqual(encodeMessage(['a\r', '\t\0']), bytes(0, 0, 0, 2, 0x61, 0x0d, 0x0a, 0x09, 0x00, 0x0a));
  });

  test('Uint8Array and Buffer lines are copied byte for byte', () => {
    const out = encodeMessage([new Uint8Array([0x00, 0xff, 0x80]), Buffer.from('x'), new Uint8Array(0)]);
    assert.deepEqual(out, bytes(0, 0, 0, 3, 0x00, 0xff, 0x80, 0x0a, 0x78, 0x0a, 0x0a));
  });

  test('a Uint8Array view inside a larger buffer contributes only its own bytes', () => {
    const backing = new Uint8Array([0x0a, 0x31, 0x32, 0x33, 0x0a]);
    const view = backing.subarray(1, 4); // "123", the \n around it are outside the view
    assert.deepEqual(encodeMessage([view, 'z']), bytes(0, 0, 0, 2, 0x31, 0x32, 0x33, 0x0a, 0x7a, 0x0a));
  });

  test('mixed string and byte lines', () => {
    assert.deepEqual(encodeMessage(['ab', new Uint8Array([0x63])]), bytes(0, 0, 0, 2, 0x61, 0x62, 0x0a, 0x63, 0x0a));
  });

  test('a count with all four bytes in use is big-endian', () => {
    const lines = Array.from({ length: 0x0102 }, () => '');
    const out = encodeMessage(lines);
    assert.deepEqual(out.subarray(0, 4), bytes(0, 0, 1, 2));
    assert.equal(out.length, 4 + 0x0102);
    assert.ok(out.subarray(4).every((b) => b === 0x0a));
  });

  test('the output is exactly the size of the message', () => {
    const out = encodeMessage(['abc', 'de']);
    assert.equal(out.length, 4 + 4 + 3);
    assert.equal(out.byteLength, out.length);
  });
});

describe('QUIT_MESSAGE', () => {
  test('is 4 zero bytes', () => {
    assert.deepEqual(Buffer.from(QUIT_MESSAGE), bytes(0, 0, 0, 0));
    assert.equal(QUIT_MESSAGE.length, 4);
  });

  test('encodeMessage([]) equals it', () => {
    assert.deepEqual(encodeMessage([]), Buffer.from(QUIT_MESSAGE));
  });
});

describe('encodeMessage: refusals', () => {
  test('LINEDROP_ERR_INVALID_LINE for a \\n inside a string line, naming the line', () => {
    throwsCode(() => encodeMessage(['ok', 'a\nb']), 'LINEDROP_ERR_INVALID_LINE', /\bline 2\b/);
    throwsCode(() => encodeMessage(['\n']), 'LINEDROP_ERR_INVALID_LINE', /\bline 1\b/);
    throwsCode(() => encodeMessage(['a', 'b', 'c', 'trailing\n']), 'LINEDROP_ERR_INVALID_LINE', /\bline 4\b/);
  });

  test('LINEDROP_ERR_INVALID_LINE for a 0x0A inside a byte line, naming the line', () => {
    throwsCode(
      () => encodeMessage(['x', 'y', new Uint8Array([1, 0x0a, 2])]),
      'LINEDROP_ERR_INVALID_LINE',
      /\bline 3\b/,
    );
    throwsCode(() => encodeMessage([Buffer.from([0x0a])]), 'LINEDROP_ERR_INVALID_LINE', /\bline 1\b/);
  });

  test('\\r\\n inside a line is refused too (it holds a \\n)', () => {
    throwsCode(() => encodeMessage(['a\r\n']), 'LINEDROP_ERR_INVALID_LINE', /\bline 1\b/);
  });
});

describe('encodeCount', () => {
  test('exact bytes', () => {
    assert.deepEqual(encodeCount(0), bytes(0, 0, 0, 0));
    assert.deepEqual(encodeCount(1), bytes(0, 0, 0, 1));
    assert.deepEqual(encodeCount(0x01020304), bytes(1, 2, 3, 4));
    assert.deepEqual(encodeCount(0x7fffffff), bytes(0x7f, 0xff, 0xff, 0xff));
    assert.deepEqual(encodeCount(0x80000000), bytes(0x80, 0, 0, 0));
  });

  test('0xFFFFFFFF is the largest count and is fine', () => {
    assert.deepEqual(encodeCount(0xffffffff), bytes(0xff, 0xff, 0xff, 0xff));
  });

  for (const bad of [2 ** 32, 2 ** 53, -1, -0.5, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    test(`${bad} throws LINEDROP_ERR_COUNT_OUT_OF_RANGE`, () => {
      throwsCode(() => encodeCount(bad), 'LINEDROP_ERR_COUNT_OUT_OF_RANGE');
    });
  }

  test('property: any count in range round-trips through the 4 bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        const b = encodeCount(n);
        assert.equal(b.length, 4);
        assert.equal(b[0]! * 0x1000000 + (b[1]! << 16) + (b[2]! << 8) + b[3]!, n);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('decodeAll', () => {
  test('round trip of several messages and the quit', () => {
    const messages: Line[][] = [['hello', 'world'], [''], ['é✓😀', new Uint8Array([0, 0xff, 0x0d])], []];
    const stream = Buffer.concat(messages.map((m) => encodeMessage(m)));
    const got = decodeAll(stream);
    assert.equal(got.length, 4);
    assert.deepEqual(got[0]!.lines.map(String), ['hello', 'world']);
    assert.equal(got[0]!.bytes, 12);
    assert.deepEqual(got[1]!.lines.map(String), ['']);
    assert.equal(got[1]!.bytes, 1);
    assert.equal(got[2]!.lines[0]!.toString('utf8'), 'é✓😀');
    assert.deepEqual(got[2]!.lines[1], bytes(0, 0xff, 0x0d));
    assert.deepEqual(got[3], { lines: [], bytes: 0 });
  });

  test('an empty stream is no messages', () => {
    assert.deepEqual(decodeAll(Buffer.alloc(0)), []);
  });

  test('throws LINEDROP_ERR_TRUNCATED for a stream cut short', () => {
    const stream = encodeMessage(['abc', 'def']);
    for (let k = 1; k < stream.length; k++) {
      throwsCode(() => decodeAll(stream.subarray(0, k)), 'LINEDROP_ERR_TRUNCATED');
    }
  });

  test('applies the limits it is given', () => {
    throwsCode(() => decodeAll(encodeMessage(['a', 'b']), { maxLines: 1 }), 'LINEDROP_ERR_TOO_MANY_LINES');
    throwsCode(() => decodeAll(encodeMessage(['abc']), { maxLineBytes: 2 }), 'LINEDROP_ERR_LINE_TOO_LONG');
    throwsCode(() => decodeAll(encodeMessage(['ab', 'c']), { maxMessageBytes: 4 }), 'LINEDROP_ERR_MESSAGE_TOO_LARGE');
    assert.equal(decodeAll(encodeMessage(['ab', 'c']), { maxMessageBytes: 5 }).length, 1);
  });

  test('property: encodeMessage matches an independent builder, and decodeAll inverts it', () => {
    const line: fc.Arbitrary<Line> = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 16 }).map((s) => s.replaceAll('\n', '')),
      fc.uint8Array({ maxLength: 16 }).map((a) => a.filter((b) => b !== 0x0a)),
    );
    fc.assert(
      fc.property(fc.array(fc.array(line, { maxLength: 6 }), { maxLength: 6 }), (messages) => {
        const encoded = messages.map((m) => encodeMessage(m));
        encoded.forEach((e, i) => assert.deepEqual(e, wire(messages[i]!)));
        const got = decodeAll(Buffer.concat(encoded));
        assert.deepEqual(
          got.map((m) => m.lines.map((l) => l.toString('hex'))),
          messages.map((m) =>
            m.map((l) => (typeof l === 'string' ? Buffer.from(l, 'utf8') : Buffer.from(l)).toString('hex')),
          ),
        );
      }),
      { numRuns: 1000 },
    );
  });
});

describe('splitLines', () => {
  test('splits a body into lines without their \\n', () => {
    assert.deepEqual(splitLines(Buffer.from('a\n\nbc\n')).map(String), ['a', '', 'bc']);
    assert.deepEqual(splitLines(Buffer.from('\n')).map(String), ['']);
    assert.deepEqual(splitLines(Buffer.alloc(0)), []);
  });
});

describe('resolveLimits', () => {
  test('fills in the defaults', () => {
    assert.deepEqual(resolveLimits(), { ...DEFAULT_LIMITS });
    assert.deepEqual(resolveLimits({}), { ...DEFAULT_LIMITS });
    assert.deepEqual(resolveLimits({ maxLines: 5 }), { ...DEFAULT_LIMITS, maxLines: 5 });
  });

  test('the documented defaults', () => {
    assert.equal(DEFAULT_LIMITS.maxLineBytes, 1024 * 1024);
    assert.ok(DEFAULT_LIMITS.maxLines >= 1 && DEFAULT_LIMITS.maxLines < 0xffffffff);
    assert.ok(Number.isSafeInteger(DEFAULT_LIMITS.maxMessageBytes) && DEFAULT_LIMITS.maxMessageBytes > 0);
  });

  test('accepts 0 and large safe integers', () => {
    assert.deepEqual(resolveLimits({ maxLines: 0, maxLineBytes: 0, maxMessageBytes: 0 }), {
      maxLines: 0,
      maxLineBytes: 0,
      maxMessageBytes: 0,
    });
    assert.equal(resolveLimits({ maxMessageBytes: 2 ** 40 }).maxMessageBytes, 2 ** 40);
  });

  test('does not change DEFAULT_LIMITS', () => {
    const before = { ...DEFAULT_LIMITS };
    resolveLimits({ maxLines: 1, maxLineBytes: 1, maxMessageBytes: 1 });
    assert.deepEqual({ ...DEFAULT_LIMITS }, before);
  });

  const keys: (keyof Limits)[] = ['maxLines', 'maxLineBytes', 'maxMessageBytes'];
  for (const key of keys) {
    for (const bad of [-1, -0.5, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      test(`rejects ${key} = ${bad}`, () => {
        assert.throws(
          () => resolveLimits({ [key]: bad }),
          (err: unknown) => {
            assert.ok(err instanceof RangeError, `expected a RangeError, got ${String(err)}`);
            assert.match(err.message, new RegExp(key));
            return true;
          },
        );
        assert.throws(() => new Decoder({ [key]: bad }), RangeError);
      });
    }
  }
});
