// Fuzzing: at least 100,000 generated inputs through the decoder, and a few thousand through a
// real server over real sockets. Every input must decode to consistent messages or end in a
// ProtocolError; the server must answer A*[QR]?, store exactly what it acknowledged, and stay up.
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import {
  LinedropClient,
  ProtocolError,
  type CloseReason,
  type ConnectionSummary,
  type FileEvent,
  type Limits,
} from '../../src/index.js';
import { Decoder, MessageReader, resolveLimits, type DecoderEvent, type Message } from '../../src/protocol/index.js';
import { isTempName } from '../../src/storage/file-sink.js';
import { HOST, RawPeer, type Running, sleep, withServer } from '../support.js';

// A real collector, so heap figures measure what is retained rather than what is not yet collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Every code a ProtocolError may carry. */
const KNOWN_CODES = new Set([
  'LINEDROP_ERR_TOO_MANY_LINES',
  'LINEDROP_ERR_LINE_TOO_LONG',
  'LINEDROP_ERR_MESSAGE_TOO_LARGE',
  'LINEDROP_ERR_TRUNCATED',
]);
/** The ones a decoder can produce: all of them (the caller's mistakes are TypeErrors and RangeErrors). */
const DECODER_CODES = new Set([
  'LINEDROP_ERR_TOO_MANY_LINES',
  'LINEDROP_ERR_LINE_TOO_LONG',
  'LINEDROP_ERR_MESSAGE_TOO_LARGE',
  'LINEDROP_ERR_TRUNCATED',
]);

const LF = 0x0a;

// ---------------------------------------------------------------------------------------------
// A stream builder of our own (not the encoder under test), and mutations of its output.
// ---------------------------------------------------------------------------------------------

interface Built {
  bytes: Buffer;
  /** Where each message's 4-byte count starts. */
  heads: number[];
}

function countBytes(n: number): Buffer {
  const b = Buffer.alloc(4);
  b[0] = (n >>> 24) & 0xff;
  b[1] = (n >>> 16) & 0xff;
  b[2] = (n >>> 8) & 0xff;
  b[3] = n & 0xff;
  return b;
}

function build(messages: readonly (readonly Buffer[])[], quit: boolean): Built {
  const parts: Buffer[] = [];
  const heads: number[] = [];
  let size = 0;
  const add = (b: Buffer): void => {
    parts.push(b);
    size += b.length;
  };
  for (const lines of [...messages, ...(quit ? [[]] : [])]) {
    heads.push(size);
    add(countBytes(lines.length));
    for (const line of lines) add(Buffer.concat([line, Buffer.from([LF])]));
  }
  return { bytes: Buffer.concat(parts, size), heads };
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'duplicate'; at: number; len: number }
  | { kind: 'truncate'; at: number };

interface CountChange {
  which: number;
  value: number;
}

function mutate(built: Built, counts: readonly CountChange[], mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(built.bytes);
  for (const c of counts) {
    if (built.heads.length === 0) break;
    const at = built.heads[c.which % built.heads.length]!;
    b.writeUInt32BE(c.value >>> 0, at);
  }
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.kind === 'insert' || m.kind === 'truncate' ? 1 : 0));
    switch (m.kind) {
      case 'flip':
        if (b.length > 0) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'set':
        if (b.length > 0) b[at] = m.byte;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at, at + m.len), b.subarray(at + m.len)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return Buffer.from(b);
}

// ---------------------------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------------------------

const noLF = (a: Uint8Array): Buffer => Buffer.from(a.filter((x) => x !== LF));

const lineArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 14 }).map(noLF),
  fc.string({ maxLength: 10 }).map((s) => Buffer.from(s.replaceAll('\n', ''), 'utf8')),
  fc.constantFrom('', '\r', '\t', 'é', 'line', 'a\rb').map((s) => Buffer.from(s, 'utf8')),
);

const validArb: fc.Arbitrary<Built> = fc
  .tuple(fc.array(fc.array(lineArb, { minLength: 1, maxLength: 5 }), { maxLength: 4 }), fc.boolean())
  .map(([messages, quit]) => build(messages, quit));

const byteArb = fc.oneof(fc.constantFrom(LF, 0x00, 0xff, 0x0d), fc.integer({ min: 0, max: 255 }));

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: byteArb }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 6 }),
      byteArb.map((x) => Uint8Array.of(x)),
    ),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

const countValueArb = fc.oneof(
  fc.integer({ min: 0, max: 8 }),
  fc.constantFrom(0xffffffff, 0x80000000, 0x01000000, 100_000_000, 100_000_001, 256, 255),
  fc.nat(),
);

/** A valid stream, then 0-4 count changes and 0-5 byte mutations. */
const mutatedArb: fc.Arbitrary<Buffer> = fc
  .tuple(
    validArb,
    fc.array(fc.record({ which: fc.nat(), value: countValueArb }), { maxLength: 2 }),
    fc.array(mutationArb, { maxLength: 5 }),
  )
  .map(([built, counts, mutations]) => mutate(built, counts, mutations));

/** Random bytes: uniform, and over a small alphabet (zeros and newlines make counts and lines likely). */
const randomArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 96 }).map((a) => Buffer.from(a)),
  fc
    .array(fc.constantFrom(0x00, 0x00, 0x00, 0x01, 0x02, 0x03, LF, LF, 0x61, 0x0d, 0xff), { maxLength: 96 })
    .map((a) => Buffer.from(a)),
);

const smallLimitsArb: fc.Arbitrary<Partial<Limits>> = fc.record({
  maxLines: fc.integer({ min: 0, max: 6 }),
  maxLineBytes: fc.integer({ min: 0, max: 12 }),
  maxMessageBytes: fc.integer({ min: 0, max: 48 }),
});

/** How the stream is cut: chunk sizes (0 is an empty push), used in turn; how each chunk is held in memory. */
interface Split {
  sizes: readonly number[];
  kinds: readonly number[];
}
const splitArb: fc.Arbitrary<Split> = fc.record({
  sizes: fc.oneof(
    fc.array(fc.integer({ min: 0, max: 24 }), { minLength: 1, maxLength: 8 }),
    fc.constant<readonly number[]>([1]), // byte by byte
    fc.constant<readonly number[]>([100_000]), // all at once
  ),
  kinds: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
});

/**
 * Cuts `input` into chunks, each copied into memory of its own: a Buffer, a plain Uint8Array, or
 * a view in the middle of a larger ArrayBuffer whose other bytes are all `\n` (a decoder that
 * read outside its view would find them).
 */
function cut(input: Buffer, split: Split): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let pos = 0;
  let empties = 0;
  for (let i = 0; pos < input.length || (i === 0 && split.sizes[0] === 0); i++) {
    let size = split.sizes[i % split.sizes.length]!;
    if (size === 0 && ++empties > 3) size = 1;
    const piece = input.subarray(pos, pos + size);
    pos += piece.length;
    const kind = split.kinds[i % split.kinds.length]!;
    if (kind === 0) chunks.push(Buffer.from(piece));
    else if (kind === 1) chunks.push(new Uint8Array(piece));
    else {
      const ab = new ArrayBuffer(piece.length + 7);
      new Uint8Array(ab).fill(LF);
      const view = kind === 2 ? new Uint8Array(ab, 3, piece.length) : Buffer.from(ab, 3, piece.length);
      view.set(piece);
      chunks.push(view);
    }
  }
  return chunks;
}

// ---------------------------------------------------------------------------------------------
// A reference decoder, written from the README's rules, for whole streams held in memory.
// ---------------------------------------------------------------------------------------------

interface Outcome {
  messages: { lines: number; body: Buffer }[];
  error: string | undefined;
}

function reference(input: Buffer, limits: Limits): Outcome {
  const messages: Outcome['messages'] = [];
  let pos = 0;
  while (pos < input.length) {
    if (input.length - pos < 4) return { messages, error: 'LINEDROP_ERR_TRUNCATED' };
    const count = input.readUInt32BE(pos);
    pos += 4;
    if (count > limits.maxLines) return { messages, error: 'LINEDROP_ERR_TOO_MANY_LINES' };
    const bodyStart = pos;
    for (let seen = 0; seen < count; seen++) {
      const nl = input.indexOf(LF, pos);
      const contentEnd = nl === -1 ? input.length : nl;
      const through = (nl === -1 ? input.length : nl + 1) - bodyStart;
      // The body index of the byte that breaks each limit (the line limit wins a tie).
      const lineBreak = contentEnd - pos > limits.maxLineBytes ? pos - bodyStart + limits.maxLineBytes : Infinity;
      const messageBreak = through > limits.maxMessageBytes ? limits.maxMessageBytes : Infinity;
      if (lineBreak !== Infinity || messageBreak !== Infinity) {
        return {
          messages,
          error: lineBreak <= messageBreak ? 'LINEDROP_ERR_LINE_TOO_LONG' : 'LINEDROP_ERR_MESSAGE_TOO_LARGE',
        };
      }
      if (nl === -1) return { messages, error: 'LINEDROP_ERR_TRUNCATED' };
      pos = nl + 1;
    }
    messages.push({ lines: count, body: input.subarray(bodyStart, pos) });
  }
  return { messages, error: undefined };
}

// ---------------------------------------------------------------------------------------------
// Running the decoder under test, checking every event as it comes.
// ---------------------------------------------------------------------------------------------

function countLF(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(LF); i !== -1; i = b.indexOf(LF, i + 1)) n++;
  return n;
}

/** Fails if the decoder holds a view of any chunk, or any byte array larger than its 4-byte count buffer. */
function assertRetainsNothing(decoder: Decoder, chunks: readonly Uint8Array[]): void {
  const buffers = new Set<ArrayBufferLike>(chunks.map((c) => c.buffer));
  const seen = new Set<object>();
  const walk = (value: unknown, path: string, depth: number): void => {
    if (value === null || typeof value !== 'object' || seen.has(value) || depth > 4) return;
    seen.add(value);
    if (ArrayBuffer.isView(value)) {
      assert.ok(!buffers.has(value.buffer), `the decoder keeps a view of an input chunk at ${path}`);
      assert.ok(value.byteLength <= 4, `the decoder keeps ${value.byteLength} bytes at ${path}`);
      return;
    }
    if (value instanceof ArrayBuffer) {
      assert.ok(value.byteLength <= 4, `the decoder keeps an ArrayBuffer of ${value.byteLength} bytes at ${path}`);
      return;
    }
    if (value instanceof Error) return;
    for (const [key, v] of Object.entries(value)) walk(v, `${path}.${key}`, depth + 1);
  };
  walk(decoder, 'decoder', 0);
}

/** Feeds the chunks, checks each event, and returns what came out. */
function runDecoder(chunks: readonly Uint8Array[], limits: Partial<Limits>): Outcome {
  const decoder = new Decoder(limits);
  const resolved = decoder.limits;
  const messages: Outcome['messages'] = [];
  let failed: ProtocolError | undefined;
  let current: { lines: number; parts: Buffer[] } | undefined;
  let pushed = 0;

  const check = (events: DecoderEvent[], chunk: Uint8Array | undefined): void => {
    assert.ok(Array.isArray(events));
    if (failed) {
      assert.equal(events.length, 1, 'after an error, only that error comes back');
      assert.equal(events[0]!.type, 'error');
      assert.equal((events[0] as { error: unknown }).error, failed, 'after an error, the same error comes back');
      return;
    }
    events.forEach((event, i) => {
      switch (event.type) {
        case 'start':
          assert.equal(current, undefined, 'a start inside a message');
          assert.ok(
            Number.isInteger(event.lines) && event.lines >= 0 && event.lines <= resolved.maxLines,
            `start lines ${event.lines}`,
          );
          current = { lines: event.lines, parts: [] };
          break;
        case 'data': {
          assert.ok(current !== undefined, 'data outside a message');
          assert.ok(current.lines > 0, 'data in a zero-line message');
          assert.ok(chunk !== undefined, 'data from end()');
          assert.ok(Buffer.isBuffer(event.data));
          assert.ok(event.data.length > 0, 'an empty data event');
          // A view of this chunk, within its bounds: not a copy, not beyond the view.
          assert.equal(event.data.buffer, chunk.buffer, 'data is not a view of the chunk');
          assert.ok(event.data.byteOffset >= chunk.byteOffset, 'data starts before the chunk');
          assert.ok(
            event.data.byteOffset + event.data.length <= chunk.byteOffset + chunk.byteLength,
            'data runs past the chunk',
          );
          current.parts.push(event.data);
          break;
        }
        case 'end': {
          assert.ok(current !== undefined, 'end outside a message');
          assert.equal(event.lines, current.lines, 'end lines differ from start');
          const body = Buffer.concat(current.parts);
          assert.equal(event.bytes, body.length, "end's bytes differ from the data handed on");
          assert.equal(countLF(body), event.lines, 'newlines in the body differ from the line count');
          if (event.lines > 0) assert.equal(body[body.length - 1], LF, 'the body does not end with a newline');
          assert.ok(event.bytes <= resolved.maxMessageBytes, 'a message over maxMessageBytes was completed');
          messages.push({ lines: event.lines, body });
          current = undefined;
          break;
        }
        case 'error':
          assert.ok(event.error instanceof ProtocolError, `not a ProtocolError: ${String(event.error)}`);
          assert.ok(KNOWN_CODES.has(event.error.code), `unknown code ${event.error.code}`);
          assert.ok(DECODER_CODES.has(event.error.code), `a decoder produced ${event.error.code}`);
          assert.equal(i, events.length - 1, 'an event after an error');
          assert.equal(decoder.error, event.error);
          failed = event.error;
          break;
        default:
          assert.fail(`unknown event ${JSON.stringify(event)}`);
      }
    });
  };

  for (const chunk of chunks) {
    check(decoder.push(chunk), chunk);
    pushed += chunk.byteLength;
  }
  if (!failed) assert.equal(decoder.bytesConsumed, pushed, 'bytes left unconsumed');
  if (current !== undefined) assert.equal(decoder.idle, false, 'idle inside a message');
  const wasInside = !failed && !decoder.idle;
  const endEvents = decoder.end();
  if (wasInside) {
    assert.equal(endEvents.length, 1);
    assert.equal(endEvents[0]!.type, 'error');
    assert.equal((endEvents[0] as { error: ProtocolError }).error.code, 'LINEDROP_ERR_TRUNCATED');
  } else if (!failed) {
    assert.deepEqual(endEvents, [], 'end() between messages reports something');
  }
  check(endEvents, undefined);
  // Pushing after the error changes nothing.
  if (failed) check(decoder.push(Buffer.from([0, 0, 0, 1, LF])), undefined);
  assertRetainsNothing(decoder, chunks);
  return { messages, error: failed?.code };
}

function decodeAndCompare(input: Buffer, split: Split, limits: Partial<Limits>): void {
  const got = runDecoder(cut(input, split), limits);
  const want = reference(input, resolveLimits(limits));
  assert.equal(got.error, want.error, 'the outcome differs from the reference decoder');
  assert.equal(got.messages.length, want.messages.length, 'message count differs from the reference');
  got.messages.forEach((m, i) => {
    assert.equal(m.lines, want.messages[i]!.lines);
    assert.ok(m.body.equals(want.messages[i]!.body), `message ${i + 1}'s body differs from the input`);
  });
}

// ---------------------------------------------------------------------------------------------

const RUNS_PER_PROPERTY = 50_000;
/** Heap plus array buffers after a full collection (array buffers are freed a tick after it, hence the wait). */
const heapNow = async (): Promise<number> => {
  gc();
  await sleep(10);
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

describe('decoder fuzz: over 200,000 generated inputs', () => {
  let inputs = 0;
  let before = 0;

  test('baseline memory', async () => {
    before = await heapNow();
  });

  test('random bytes, small random limits, random chunk splits', () => {
    fc.assert(
      fc.property(randomArb, splitArb, smallLimitsArb, (input, split, limits) => {
        inputs++;
        decodeAndCompare(input, split, limits);
      }),
      { numRuns: RUNS_PER_PROPERTY },
    );
  });

  test('random bytes, default limits, random chunk splits', () => {
    fc.assert(
      fc.property(randomArb, splitArb, (input, split) => {
        inputs++;
        decodeAndCompare(input, split, {});
      }),
      { numRuns: RUNS_PER_PROPERTY },
    );
  });

  test('mutated valid streams (bytes flipped, inserted, deleted, truncated, counts changed), small random limits', () => {
    fc.assert(
      fc.property(mutatedArb, splitArb, smallLimitsArb, (input, split, limits) => {
        inputs++;
        decodeAndCompare(input, split, limits);
      }),
      { numRuns: RUNS_PER_PROPERTY },
    );
  });

  test('mutated valid streams, default limits', () => {
    fc.assert(
      fc.property(mutatedArb, splitArb, (input, split) => {
        inputs++;
        decodeAndCompare(input, split, {});
      }),
      { numRuns: RUNS_PER_PROPERTY },
    );
  });

  test('unmutated valid streams decode to exactly the messages built', () => {
    fc.assert(
      fc.property(validArb, splitArb, (built, split) => {
        inputs++;
        const got = runDecoder(cut(built.bytes, split), {});
        assert.equal(got.error, undefined);
        assert.equal(got.messages.length, built.heads.length);
        assert.ok(Buffer.concat(got.messages.flatMap((m) => [countBytes(m.lines), m.body])).equals(built.bytes));
      }),
      { numRuns: 2_000 },
    );
  });

  test('at least 100,000 inputs ran, and the heap did not grow', async () => {
    const grown = (await heapNow()) - before;
    console.log(`decoder fuzz: ${inputs} inputs; heap + array buffers grew ${(grown / 1e6).toFixed(1)} MB`);
    assert.ok(inputs >= 100_000, `only ${inputs} inputs`);
    assert.ok(grown < 200e6, `memory grew by ${grown} bytes`);
  });

  test('a 200 MB message passes through in bounded memory (the decoder keeps only views)', async () => {
    const lineCount = 2_000_000;
    const chunkSize = 1024 * 1024;
    const template = Buffer.alloc(chunkSize + 100);
    for (let i = 0; i < template.length; i += 100) template.write(`${'x'.repeat(99)}\n`, i, 'latin1');
    const decoder = new Decoder();
    const start = await heapNow();
    let data = 0;
    let ended: DecoderEvent | undefined;
    let peak = 0;
    const total = lineCount * 100;
    const first = countBytes(lineCount);
    for (const e of decoder.push(first)) assert.equal(e.type, 'start');
    for (let sent = 0; sent < total; ) {
      const size = Math.min(chunkSize, total - sent);
      // A fresh chunk each time (as a socket gives): if the decoder kept any, memory would grow.
      const chunk = Buffer.from(template.subarray(sent % 100, (sent % 100) + size));
      for (const e of decoder.push(chunk)) {
        if (e.type === 'data') data += e.data.length;
        else if (e.type === 'end') ended = e;
        else assert.fail(`unexpected ${e.type}`);
      }
      sent += size;
      if (sent % (32 * chunkSize) === 0) peak = Math.max(peak, (await heapNow()) - start);
    }
    peak = Math.max(peak, (await heapNow()) - start);
    assert.equal(data, total);
    assert.deepEqual(ended, { type: 'end', lines: lineCount, bytes: total });
    assert.ok(decoder.idle);
    assertRetainsNothing(decoder, []);
    console.log(`200 MB message: memory grew at most ${(peak / 1e6).toFixed(1)} MB`);
    assert.ok(peak < 32e6, `memory grew by ${peak} bytes while streaming 200 MB`);
  });

  test('a 64 MiB line with no newline is refused after 1 MiB, never buffered', () => {
    const decoder = new Decoder();
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    decoder.push(countBytes(1));
    let refusedAfter = -1;
    for (let i = 1; i <= 256; i++) {
      const events = decoder.push(Buffer.from(chunk));
      const error = events.find((e) => e.type === 'error');
      if (error) {
        assert.equal((error as { error: ProtocolError }).error.code, 'LINEDROP_ERR_LINE_TOO_LONG');
        refusedAfter = i * chunk.length;
        break;
      }
    }
    assert.ok(refusedAfter > 0, 'the long line was never refused');
    assert.ok(refusedAfter <= 1024 * 1024 + chunk.length, `refused only after ${refusedAfter} bytes`);
    assertRetainsNothing(decoder, [chunk]);
  });
});

// ---------------------------------------------------------------------------------------------
// Through a real server.
// ---------------------------------------------------------------------------------------------

interface Expected {
  statuses: string;
  files: Buffer[];
  reason: CloseReason;
}

/**
 * What the server must do with `input`, worked out with MessageReader (byte by byte, so no message is lost to a later
 * error).
 */
function expectedFor(input: Buffer, limits: Partial<Limits>): Expected {
  const reader = new MessageReader(limits);
  const files: Buffer[] = [];
  const toBody = (m: Message): Buffer => Buffer.concat(m.lines.flatMap((l) => [l, Buffer.from([LF])]));
  for (let i = 0; i < input.length; i++) {
    let got: Message[];
    try {
      got = reader.push(input.subarray(i, i + 1));
    } catch (err) {
      assert.ok(err instanceof ProtocolError);
      return { statuses: 'A'.repeat(files.length) + 'R', files, reason: 'rejected' };
    }
    for (const m of got) {
      if (m.lines.length === 0) return { statuses: `${'A'.repeat(files.length)}Q`, files, reason: 'quit' };
      const body = toBody(m);
      assert.equal(body.length, m.bytes);
      files.push(body);
    }
  }
  try {
    reader.end();
  } catch (err) {
    assert.ok(err instanceof ProtocolError && err.code === 'LINEDROP_ERR_TRUNCATED');
    return { statuses: `${'A'.repeat(files.length)}R`, files, reason: 'truncated' };
  }
  return { statuses: 'A'.repeat(files.length), files, reason: 'client-closed' };
}

/** Records the server's events, so a test can find a connection by its client port. */
class Recorder {
  private readonly opened = new Map<string, number[]>();
  readonly files = new Map<number, FileEvent[]>();
  private readonly closed = new Map<number, ConnectionSummary>();
  private readonly waiters = new Map<number, (s: ConnectionSummary) => void>();

  constructor(s: Running) {
    s.server.on('connectionOpened', ({ connection, remote }) => {
      const list = this.opened.get(remote) ?? [];
      list.push(connection);
      this.opened.set(remote, list);
    });
    s.server.on('file', (event) => {
      const list = this.files.get(event.connection) ?? [];
      list.push(event);
      this.files.set(event.connection, list);
    });
    s.server.on('connectionClosed', (summary) => {
      this.closed.set(summary.connection, summary);
      this.waiters.get(summary.connection)?.(summary);
    });
  }

  /** The connection that came from this client port (the oldest not yet claimed). */
  claim(localPort: number): number {
    const list = this.opened.get(`${HOST}:${localPort}`);
    const id = list?.shift();
    assert.ok(id !== undefined, `no connection from port ${localPort}`);
    return id;
  }

  async summary(id: number, ms = 10_000): Promise<ConnectionSummary> {
    const done = this.closed.get(id);
    if (done) return done;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`connection ${id} never closed`)), ms);
      this.waiters.set(id, (s) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
  }
}

interface ServerInput {
  input: Buffer;
  /** Where the input is cut into separate writes. */
  cuts: number[];
}

const serverInputArb: fc.Arbitrary<ServerInput> = fc.record({
  input: fc.oneof(
    { weight: 1, arbitrary: randomArb },
    { weight: 4, arbitrary: mutatedArb },
    { weight: 1, arbitrary: validArb.map((b) => b.bytes) },
  ),
  cuts: fc.array(fc.nat(), { maxLength: 3 }),
});

async function runPool<T>(
  items: readonly T[],
  width: number,
  work: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

/** All files under `dir`, one level of sub-folders deep. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory())
      for (const name of await readdir(join(dir, entry.name))) out.push(join(dir, entry.name, name));
    else out.push(join(dir, entry.name));
  }
  return out;
}

async function fuzzServer(
  t: TestContext,
  limits: Partial<Limits>,
  runs: number,
  seed: number,
): Promise<{ connections: number; files: number; statuses: Map<string, number> }> {
  const s = await withServer(t, { layout: 'session', limits, maxConnectionsPerAddress: 256 });
  const recorder = new Recorder(s);
  const inputs = fc.sample(serverInputArb, { numRuns: runs, seed });
  let files = 0;
  const kinds = new Map<string, number>();
  const folders = new Set<string>();
  await runPool(inputs, 16, async ({ input, cuts }, i) => {
    const want = expectedFor(input, limits);
    const peer = await RawPeer.connect(s.port);
    const localPort = peer.socket.localPort!;
    const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
    let from = 0;
    try {
      for (const to of [...points, input.length]) {
        if (to > from) await peer.write(input.subarray(from, to));
        from = to;
      }
    } catch {
      // The server may close before everything is written (after an R); what it said is checked below.
    }
    peer.socket.end();
    const where = `input ${i} (seed ${seed}): ${input.toString('hex')}`;
    assert.ok(await peer.waitClosed(10_000), `the server never closed: ${where}`);
    const statuses = String.fromCharCode(...peer.received);
    assert.match(statuses, /^A*[QR]?$/, where);
    assert.equal(statuses, want.statuses, where);
    const id = recorder.claim(localPort);
    const summary = await recorder.summary(id);
    assert.equal(summary.reason, want.reason, where);
    assert.equal(summary.files, want.files.length, where);
    const events = recorder.files.get(id) ?? [];
    assert.deepEqual(
      events.map((e) => e.file.name),
      want.files.map((_, k) => `${k + 1}.txt`),
      where,
    );
    for (const [k, event] of events.entries()) {
      const stored = await readFile(event.file.location);
      assert.ok(stored.equals(want.files[k]!), `${event.file.name} differs from what was acknowledged: ${where}`);
      folders.add(dirname(event.file.location));
    }
    files += events.length;
    const kind = statuses.at(-1) === 'A' || statuses === '' ? '(none)' : statuses.at(-1)!;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  });

  // The server is still up: a valid upload succeeds, byte-exact.
  assert.ok(s.server.listening);
  const client = await LinedropClient.connect({ host: HOST, port: s.port });
  const lines = ['after the fuzz', 'still \r\t serving', ''];
  assert.equal(await client.sendLines(lines), 'A');
  assert.equal(await client.quit(), 'Q');
  const lastId = Math.max(...recorder.files.keys());
  const last = recorder.files.get(lastId)!;
  assert.equal(last.length, 1);
  assert.equal(await readFile(last[0]!.file.location, 'utf8'), 'after the fuzz\nstill \r\t serving\n\n');

  // No temporary file anywhere, and no file that was not acknowledged.
  const all = await walk(s.dir);
  const temps = all.filter((p) => isTempName(basename(p)));
  assert.deepEqual(temps, [], 'temporary files left behind');
  assert.equal(all.length, files + 1, 'files on disk that were never acknowledged (or missing ones)');
  return { connections: inputs.length + 1, files, statuses: kinds };
}

describe('server fuzz: a few thousand generated streams over real sockets', () => {
  const seed = Date.now() % 1_000_000;

  test('default limits: 1,500 streams', async (t) => {
    const started = performance.now();
    const r = await fuzzServer(t, {}, 1_500, seed);
    console.log(
      `server fuzz (default limits, seed ${seed}): ${r.connections} connections, ${r.files} files ` +
        `stored, last status ${JSON.stringify(Object.fromEntries(r.statuses))}, ` +
        `${Math.round(performance.now() - started)} ms`,
    );
  });

  test('small limits (6 lines, 16-byte lines, 64-byte messages): 1,500 streams', async (t) => {
    const started = performance.now();
    const r = await fuzzServer(t, { maxLines: 6, maxLineBytes: 16, maxMessageBytes: 64 }, 1_500, seed + 1);
    console.log(
      `server fuzz (small limits, seed ${seed + 1}): ${r.connections} connections, ${r.files} files ` +
        `stored, last status ${JSON.stringify(Object.fromEntries(r.statuses))}, ` +
        `${Math.round(performance.now() - started)} ms`,
    );
  });
});
