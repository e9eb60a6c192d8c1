// What the client knows about a file before it sends it: its lines, bytes, whether it lacks a final
// newline and whether it holds NUL bytes. One tally counts them, whether the bytes come from memory,
// from a file read ahead of sending, or from the chunks being sent.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { outOfRange } from '../errors.js';
import { ClientError } from './errors.js';
import { MAX_WIRE_COUNT } from '../protocol/limits.js';
import { countNewlines, scanText } from '../protocol/newlines.js';

const LF = 0x0a;
/** `measureFile` reads in blocks of this size... */
const MEASURE_CHUNK = 4 * 1024 * 1024;
/**
 * ...this many at once: the reads (copies from the page cache, on the thread pool) are what takes
 * the time, and before anything is sent nothing else needs the cores; the blocks are counted as
 * they come, in any order.
 */
const MEASURE_READS = 3;
/** Buffers of `MEASURE_CHUNK` bytes that no `measureFile` call is using: every call takes some and gives them back. */
const spareBuffers: Buffer[] = [];

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

/** What one block of a file holds, counted on its own. */
interface Block {
  bytes: number;
  newlines: number;
  /** Offset of the block's first NUL byte, or -1. */
  firstNul: number;
  /** The block's last byte. */
  last: number;
}

function countBlock(buf: Buffer): Block {
  const { newlines, nul } = scanText(buf);
  return { bytes: buf.length, newlines, firstNul: nul ? buf.indexOf(0) : -1, last: buf[buf.length - 1]! };
}

/** Counts lines over consecutive chunks of one file: the one place the client counts lines. */
export class LineTally {
  bytes = 0;
  newlines = 0;
  firstNul = -1;
  private last = LF;
  private readonly findNul: boolean;

  /** `findNul: false`: no search for NUL bytes (`firstNul` stays -1), for bytes already looked through. */
  constructor(options: { findNul?: boolean } = {}) {
    this.findNul = options.findNul !== false;
  }

  add(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.findNul && this.firstNul < 0) {
      const { newlines, nul } = scanText(buf);
      if (nul) this.firstNul = this.bytes + buf.indexOf(0);
      this.newlines += newlines;
    } else {
      this.newlines += countNewlines(buf);
    }
    this.last = buf[buf.length - 1]!;
    this.bytes += buf.length;
  }

  /** Adds the next block, counted beforehand. */
  addBlock(block: Block): void {
    if (block.bytes === 0) return;
    if (this.firstNul < 0 && block.firstNul >= 0) this.firstNul = this.bytes + block.firstNul;
    this.newlines += block.newlines;
    this.last = block.last;
    this.bytes += block.bytes;
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
  const buffers = Array.from({ length: MEASURE_READS }, () => spareBuffers.pop() ?? Buffer.allocUnsafe(MEASURE_CHUNK));
  const blocks: Block[] = [];
  let next = 0;
  // Where the first block that came back short ended: the end of the file, as far as this count goes.
  let end = Number.POSITIVE_INFINITY;
  let counted = 0;
  const reader = async (buf: Buffer): Promise<void> => {
    for (;;) {
      const index = next;
      const position = index * MEASURE_CHUNK;
      if (position >= end) return;
      next++;
      // A read may return less than asked before the end (some network and FUSE file systems): only a
      // read of nothing ends the file.
      let got = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buf, got, MEASURE_CHUNK - got, position + got);
        got += bytesRead;
        if (bytesRead === 0 || got === MEASURE_CHUNK) break;
      }
      if (got < MEASURE_CHUNK) end = Math.min(end, position + got);
      blocks[index] = countBlock(buf.subarray(0, got));
      counted += got;
      options.onProgress?.(counted);
    }
  };
  try {
    const failed = (await Promise.allSettled(buffers.map(reader))).find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    await handle.close();
    spareBuffers.push(...buffers);
  }
  // The blocks before the end, in order (a block past it was read after the file shrank: it is left out).
  const tally = new LineTally();
  for (let i = 0; i * MEASURE_CHUNK < end && i < blocks.length; i++) tally.addBlock(blocks[i]!);
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

/** @throws ClientError `LINEDROP_ERR_EMPTY_FILE` or `LINEDROP_ERR_FILE_TOO_LONG` for a file that cannot be sent as one message. */
export function checkShape(shape: FileShape, what: string): void {
  if (shape.lines === 0) throw emptyFile(what);
  if (shape.lines > MAX_WIRE_COUNT) {
    throw new ClientError('LINEDROP_ERR_FILE_TOO_LONG', `${what} has ${shape.lines} lines; the wire carries at most ${MAX_WIRE_COUNT}, so split it`);
  }
}

export function emptyFile(what: string): ClientError {
  return new ClientError('LINEDROP_ERR_EMPTY_FILE', `${what} has no lines; a zero-line message means "quit" on this protocol, so an empty file cannot be sent`);
}

/** @throws RangeError `LINEDROP_ERR_EMPTY_MESSAGE` for a message of no lines (that would be the quit message). */
export function emptyMessage(what: string): RangeError {
  return outOfRange(`${what} has no lines; a zero-line message means "quit" on this protocol: call quit() to end the connection`, 'LINEDROP_ERR_EMPTY_MESSAGE');
}
