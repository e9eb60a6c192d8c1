// What the client knows about a file before it sends it: its lines, bytes, whether it lacks a final
// newline and whether it holds NUL bytes. One tally counts them, whether the bytes come from memory,
// from a file read ahead of sending, or from the chunks being sent.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { countLineFeeds } from '../protocol/line-scanner.js';
import { ProtocolError } from '../protocol/errors.js';
import { MAX_WIRE_COUNT } from '../protocol/limits.js';

const LF = 0x0a;
/** `measureFile` reads in blocks of this size, two at a time (one read while the other is counted). */
const MEASURE_CHUNK = 4 * 1024 * 1024;
/** Buffers of `MEASURE_CHUNK` bytes that no `measureFile` call is using: every call takes two and gives them back. */
const spareBuffers: Buffer[] = [];

function ignore(): void {}

/** What the client knows about a file before sending it. */
export interface FileShape {
  /** Lines on the wire: the file's `\n`s, plus one when the last line has none. */
  lines: number;
  /** Bytes of the file (without the `\n` the client may add). */
  bytes: number;
  /** True when the last line has no `\n`; the client adds it, so the server stores `bytes + 1` bytes. */
  addsNewline: boolean;
  /** Offset of the file's first NUL byte, when it has one (a sign of a binary file). */
  firstNul?: number;
}

/** Counts lines over consecutive chunks of one file: the one place the client counts lines. */
export class LineTally {
  bytes = 0;
  newlines = 0;
  firstNul = -1;
  private last = LF;

  add(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.firstNul < 0) {
      const at = buf.indexOf(0);
      if (at >= 0) this.firstNul = this.bytes + at;
    }
    this.newlines += countLineFeeds(buf);
    this.last = buf[buf.length - 1]!;
    this.bytes += buf.length;
  }

  get shape(): FileShape {
    const addsNewline = this.bytes > 0 && this.last !== LF;
    const shape: FileShape = { lines: this.newlines + (addsNewline ? 1 : 0), bytes: this.bytes, addsNewline };
    if (this.firstNul >= 0) shape.firstNul = this.firstNul;
    return shape;
  }
}

/** Lines and bytes of data about to be sent as one file. */
export function shapeOf(body: Uint8Array): FileShape {
  const tally = new LineTally();
  tally.add(body);
  return tally.shape;
}

/** True when two shapes describe the same message (same count, same bytes). */
export function sameShape(a: FileShape, b: FileShape): boolean {
  return a.lines === b.lines && a.bytes === b.bytes && a.addsNewline === b.addsNewline;
}

/** Reads a file once to count its lines; `onProgress` gets the bytes counted so far. */
export async function measureFile(path: string, options: { onProgress?: (bytes: number) => void } = {}): Promise<FileShape> {
  const handle = await open(path, 'r');
  const buffers = [spareBuffers.pop() ?? Buffer.allocUnsafe(MEASURE_CHUNK), spareBuffers.pop() ?? Buffer.allocUnsafe(MEASURE_CHUNK)] as const;
  const tally = new LineTally();
  let turn = 0;
  const read = (buf: Buffer): Promise<number> => handle.read(buf, 0, buf.length, null).then((r) => r.bytesRead);
  let next = read(buffers[0]);
  try {
    for (;;) {
      const got = await next;
      if (got === 0) break;
      const buf = buffers[turn]!;
      turn ^= 1;
      // Read the next block into the other buffer while this one is counted.
      next = read(buffers[turn]!);
      next.catch(ignore);
      tally.add(got === buf.length ? buf : buf.subarray(0, got));
      options.onProgress?.(tally.bytes);
    }
  } finally {
    await next.catch(ignore);
    await handle.close();
    spareBuffers.push(...buffers);
  }
  return tally.shape;
}

/**
 * Reads a file whole, synchronously, when it holds at most `limit` bytes: its bytes and their
 * shape (what is sent is then exactly what was counted). Undefined, with nothing read, for a larger
 * file. Meant for small files before a connection is made, where one blocking read is cheaper
 * than the trips a promise takes; bytes appended while it reads are left for another time.
 */
export function readSmallFile(path: string, limit: number): { body: Buffer; shape: FileShape } | undefined {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > limit) return undefined;
    const body = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, body, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    const bytes = got === size ? body : body.subarray(0, got);
    return { body: bytes, shape: shapeOf(bytes) };
  } finally {
    closeSync(fd);
  }
}

/** @throws ProtocolError `ERR_EMPTY_FILE` or `ERR_COUNT_OUT_OF_RANGE` for what cannot be sent as one message. */
export function checkShape(shape: FileShape, what: string): void {
  if (shape.lines === 0) throw emptyFile(what);
  if (shape.lines > MAX_WIRE_COUNT) {
    throw new ProtocolError('ERR_COUNT_OUT_OF_RANGE', `${what} has ${shape.lines} lines; the wire carries at most ${MAX_WIRE_COUNT}`);
  }
}

export function emptyFile(what: string): ProtocolError {
  return new ProtocolError('ERR_EMPTY_FILE', `${what} has no lines; a zero-line message means "quit" on this protocol, so an empty file cannot be sent`);
}
