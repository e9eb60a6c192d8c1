// A file's bytes from disk, for the client: what it knows about a file before sending it (its lines,
// bytes, whether it lacks a final newline, whether it holds NUL bytes), counted by one tally whether
// the bytes come from memory, from a file read ahead of sending or from the chunks being sent; a
// small file read whole; and a file streamed onto the connection as one message: read in chunks of
// 4 MiB (the next read overlapping the send, through a few reused buffers) and checked against the
// shape it was measured with, so that a file that changed never makes a complete message.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { encodeCount } from '../protocol/encoder.js';
import { outOfRange } from '../errors.js';
import { MAX_WIRE_COUNT } from '../protocol/limits.js';
import { LF } from '../protocol/line-scanner.js';
import { countNewlines, scanText } from '../protocol/newlines.js';
import { ignore } from '../text.js';
import { ClientError } from './errors.js';

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
/** Without a shape given, `sendFile` reads files up to this size once into memory and counts them there. */
const SMALL_FILE = 1024 * 1024;
/** Files are read and sent in chunks of (at most) this size, the next read overlapping the send. */
const SEND_CHUNK = 4 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
/** The `\n` a message's last line may lack, as bytes to write. */
export const NEWLINE = Buffer.from([LF]);

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
export async function measureFile(
  path: string,
  options: { onProgress?: (bytes: number) => void } = {},
): Promise<FileShape> {
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

/**
 * @throws ClientError `LINEDROP_ERR_EMPTY_FILE` or `LINEDROP_ERR_FILE_TOO_LONG` for a file that cannot be sent as one
 * message.
 */
export function checkShape(shape: FileShape, what: string): void {
  if (shape.lines === 0) throw emptyFile(what);
  if (shape.lines > MAX_WIRE_COUNT) {
    throw new ClientError(
      'LINEDROP_ERR_FILE_TOO_LONG',
      `${what} has ${shape.lines} lines; the wire carries at most ${MAX_WIRE_COUNT}, so split it`,
    );
  }
}

export function emptyFile(what: string): ClientError {
  return new ClientError(
    'LINEDROP_ERR_EMPTY_FILE',
    `${what} has no lines; a zero-line message means "quit" on this protocol, so an empty file cannot be sent`,
  );
}

/** @throws RangeError `LINEDROP_ERR_EMPTY_MESSAGE` for a message of no lines (that would be the quit message). */
export function emptyMessage(what: string): RangeError {
  return outOfRange(
    `${what} has no lines; a zero-line message means "quit" on this protocol: call quit() to end the connection`,
    'LINEDROP_ERR_EMPTY_MESSAGE',
  );
}

/** What a send reports as it goes (`SendOptions`' callbacks). */
export interface SendHooks {
  /** Bytes of the file sent so far. */
  onProgress?: (bytesSent: number) => void;
  /** All of the message is handed to the socket. */
  onSent?: () => void;
}

/**
 * The connection as a message streamed onto it sees it (a file from disk here, or lines from the caller:
 * line-stream.ts).
 */
export interface MessageSink {
  /**
   * Writes after what was written before (several buffers in order, when given an array); `flushed`
   * is called once the socket has handed `data` to the system (then `data` may be reused), not if
   * the connection failed first. The first write of a message puts it in the window of messages
   * awaiting answers: a stream that fails before it has sent nothing. One that fails after it, before
   * its last byte, has its connection closed for it by the client.
   */
  write(data: Uint8Array | readonly Uint8Array[], flushed?: () => void): Promise<void>;
  /**
   * Set while the stream waits for its caller (the next line), not for the server: that is not the server's silence.
   */
  waitingForCaller(waiting: boolean): void;
}

/** A file read whole and counted in memory when it is small (up to 1 MiB); else measured, to be streamed. */
export async function readOrMeasure(path: string): Promise<{ shape: FileShape; body: Buffer | undefined }> {
  const whole = readSmallFile(path, SMALL_FILE);
  return whole ?? { shape: await measureFile(path), body: undefined };
}

/** Bytes held in memory as one message: the count, the bytes, and the final `\n` they may lack. */
export async function writeBody(
  out: MessageSink,
  body: Uint8Array,
  shape: FileShape,
  options: SendHooks,
  sent: () => void,
): Promise<void> {
  await out.write(shape.addsNewline ? [encodeCount(shape.lines), body, NEWLINE] : [encodeCount(shape.lines), body]);
  sent();
  options.onProgress?.(body.length);
  options.onSent?.();
}

/**
 * Why a file cannot be sent, for a failure of the system (`ENOENT`, `EACCES`, `EISDIR`...) while it
 * was opened or read: `LINEDROP_ERR_FILE_UNREADABLE`, with `err` as its cause; what nothing of this kind
 * (a `ClientError`) is returned as it is. `partSent`: the message is cut short.
 */
export function unreadable(path: string, err: unknown, partSent: boolean): unknown {
  const sys = err as NodeJS.ErrnoException;
  if (!(err instanceof Error) || typeof sys.syscall !== 'string') return err;
  const reason =
    sys.code === 'ENOENT'
      ? 'it does not exist'
      : sys.code === 'EISDIR'
        ? 'it is a folder'
        : sys.code === 'EACCES' || sys.code === 'EPERM'
          ? 'permission denied'
          : sys.code === 'ENOTDIR'
            ? 'a part of its path is not a folder'
            : sys.message;
  return new ClientError('LINEDROP_ERR_FILE_UNREADABLE', `cannot read ${path}: ${reason}; ${outcome(partSent)}`, {
    cause: err,
  });
}

/** What became of a message whose file failed, and of the connection. */
function outcome(partSent: boolean): string {
  return partSent
    ? 'part of it was sent, so the connection was closed'
    : 'nothing of it was sent; the connection is still open';
}

/**
 * Streams a file whose shape is known as one message, checking it against the bytes as they go.
 * The count goes out with the first chunk, once that chunk is read (and, when it completes the
 * message, checked): a file that cannot be opened or read, or that no longer matches its shape,
 * from the start fails with nothing of its message sent. `sent` is called once the message's last
 * byte is handed to the socket.
 * @throws ClientError `LINEDROP_ERR_FILE_UNREADABLE` when the file cannot be opened or read (the system's
 * error as its cause), `LINEDROP_ERR_FILE_CHANGED` when it no longer matches `shape`; each says whether part
 * of the message was sent (then the connection is closed by the client).
 */
export async function streamFile(
  path: string,
  shape: FileShape,
  sink: MessageSink,
  options: SendHooks,
  sent: () => void,
): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw unreadable(path, err, false);
  }
  const size = Math.max(1, Math.min(SEND_CHUNK, shape.bytes));
  // Chunks are read into buffers that are reused once the socket has handed them to the system,
  // so a file of any size is sent through a few buffers (no garbage for the collector to catch up with).
  const spare: Buffer[] = [];
  let position = 0;
  // A chunk of the file, or null when it comes back shorter than the shape says (the file shrank).
  const readChunk = async (): Promise<Buffer | null> => {
    const want = Math.min(size, shape.bytes - position);
    if (want <= 0) return EMPTY;
    const buf = spare.pop() ?? Buffer.allocUnsafe(size);
    // A read may return less than asked before the end (some network and FUSE file systems): only
    // a read of nothing ends the file.
    let got = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, got, want - got, position + got);
      got += bytesRead;
      if (bytesRead === 0 || got === want) break;
    }
    position += got;
    return got < want ? null : buf.subarray(0, got);
  };
  let next: Promise<Buffer | null> = Promise.resolve(EMPTY);
  /** The file no longer matches its shape (it shrank, grew or its lines moved). */
  let differs = false;
  /** The count is out: from then on a failure cuts the message short. */
  let started = false;
  let failure: unknown;
  try {
    next = readChunk();
    next.catch(ignore);
    // (Only the lines and bytes are checked: whether the file holds NUL bytes was seen when it was measured.)
    const tally = new LineTally({ findNul: false });
    // The file's own newlines: once that many are out, the server has the whole message.
    const newlines = shape.lines - (shape.addsNewline ? 1 : 0);
    // A file that no longer matches its count must never make a complete message: it is checked
    // before the byte that would complete one goes out, so the server sees a message cut short.
    const unchanged = async (): Promise<boolean> => {
      // (A file that grew has changed too, though its first `shape.bytes` bytes may still match.)
      const { bytesRead: beyond } = await handle.read(Buffer.alloc(1), 0, 1, shape.bytes);
      return beyond === 0 && sameShape(tally.shape, shape);
    };
    for (;;) {
      const chunk = await next;
      if (chunk === null) differs = true;
      if (chunk === null || chunk.length === 0) break;
      // Read the next chunk while this one goes out.
      next = readChunk();
      next.catch(ignore);
      tally.add(chunk);
      const completes = !shape.addsNewline && tally.newlines >= newlines;
      if ((tally.newlines > newlines || completes) && !(await unchanged())) {
        differs = true;
        break;
      }
      if (!started) {
        started = true;
        await sink.write(encodeCount(shape.lines));
      }
      // (The whole buffer the chunk was read into: chunks are views of `size`-byte buffers.)
      await sink.write(chunk, () => spare.push(Buffer.from(chunk.buffer, chunk.byteOffset, size)));
      if (completes) sent();
      options.onProgress?.(tally.bytes);
    }
    if (!differs && !(await unchanged())) differs = true;
    if (!differs) {
      if (shape.addsNewline) {
        await sink.write(NEWLINE);
        sent();
      }
      options.onSent?.();
    }
  } catch (err) {
    failure = err;
  }
  await next.catch(ignore);
  if (failure === undefined && differs) failure = await changed(path, shape, started, handle);
  await handle.close().catch(ignore);
  if (failure !== undefined) throw unreadable(path, failure, started);
}

/** `LINEDROP_ERR_FILE_CHANGED` for a file that no longer matches `shape`, with its sizes when they differ. */
async function changed(path: string, shape: FileShape, started: boolean, handle: FileHandle): Promise<ClientError> {
  if (started)
    return new ClientError('LINEDROP_ERR_FILE_CHANGED', `${path} changed while it was being sent; ${outcome(true)}`);
  const now = await handle.stat().then(
    (info) => info.size,
    () => undefined,
  );
  const sizes =
    now !== undefined && now !== shape.bytes
      ? `${shape.bytes} bytes when measured, ${now} now`
      : 'its lines are not the ones measured';
  return new ClientError(
    'LINEDROP_ERR_FILE_CHANGED',
    `${path} changed before it was sent (${sizes}); ${outcome(false)}`,
  );
}
