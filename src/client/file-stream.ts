// A file's bytes from disk onto the connection: a small file read whole, a large one read in
// chunks of 4 MiB (the next read overlapping the send, through a few reused buffers) and checked
// against the shape it was measured with, so that a file that changed never makes a complete message.
import { open, stat } from 'node:fs/promises';
import { encodeCount } from '../protocol/encoder.js';
import { ClientError } from './errors.js';
import { LineTally, sameShape, type FileShape } from './measure.js';
import { NEWLINE, type MessageSink } from './message-sink.js';
import type { SendOptions } from './options.js';

/** Without a shape given, files up to this size are read once into memory and counted there. */
const SMALL_FILE = 1024 * 1024;
/** Files are read and sent in chunks of (at most) this size, the next read overlapping the send. */
const SEND_CHUNK = 4 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

function ignore(): void {}

/** The whole file, when it is small enough to be read once and counted in memory; else undefined. */
export async function readIfSmall(path: string): Promise<Buffer | undefined> {
  const info = await stat(path);
  if (info.size > SMALL_FILE) return undefined;
  const handle = await open(path, 'r');
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * Streams a file whose shape is known as one message, checking it against the bytes as they go.
 * `sent` is called once the message's last byte is handed to the socket. After a failure once the
 * file is open, the sink is aborted.
 * @throws ClientError `ERR_FILE_CHANGED` when the file no longer matches `shape`.
 */
export async function streamFile(path: string, shape: FileShape, sink: MessageSink, options: SendOptions, sent: () => void): Promise<void> {
  const handle = await open(path, 'r');
  const size = Math.max(1, Math.min(SEND_CHUNK, shape.bytes));
  // Chunks are read into buffers that are reused once the socket has handed them to the system,
  // so a file of any size is sent through a few buffers (no garbage for the collector to catch up with).
  const spare: Buffer[] = [];
  let position = 0;
  const readChunk = async (): Promise<Buffer> => {
    const want = Math.min(size, shape.bytes - position);
    if (want <= 0) return EMPTY;
    const buf = spare.pop() ?? Buffer.allocUnsafe(size);
    const { bytesRead } = await handle.read(buf, 0, want, position);
    position += bytesRead;
    return buf.subarray(0, bytesRead);
  };
  let next: Promise<Buffer> = Promise.resolve(EMPTY);
  let failure: unknown;
  try {
    next = readChunk();
    next.catch(ignore);
    await sink.write(encodeCount(shape.lines));
    // (Only the lines and bytes are checked: whether the file holds NUL bytes was seen when it was measured.)
    const tally = new LineTally({ findNul: false });
    // The file's own newlines: once that many are out, the server has the whole message.
    const newlines = shape.lines - (shape.addsNewline ? 1 : 0);
    // A file that no longer matches its count must never make a complete message: it is checked
    // before the byte that would complete one goes out, so the server sees a message cut short.
    const unchanged = async (): Promise<void> => {
      // (A file that grew has changed too, though its first `shape.bytes` bytes may still match.)
      const { bytesRead: beyond } = await handle.read(Buffer.alloc(1), 0, 1, shape.bytes);
      if (beyond > 0 || !sameShape(tally.shape, shape)) throw new ClientError('ERR_FILE_CHANGED', `${path} changed while it was being sent`);
    };
    for (;;) {
      const chunk = await next;
      if (chunk.length === 0) break;
      // Read the next chunk while this one goes out.
      next = readChunk();
      next.catch(ignore);
      tally.add(chunk);
      const completes = !shape.addsNewline && tally.newlines >= newlines;
      if (tally.newlines > newlines || completes) await unchanged();
      // (The whole buffer the chunk was read into: chunks are views of `size`-byte buffers.)
      await sink.write(chunk, () => spare.push(Buffer.from(chunk.buffer, chunk.byteOffset, size)));
      if (completes) sent();
      options.onProgress?.(tally.bytes);
    }
    await unchanged();
    if (shape.addsNewline) {
      await sink.write(NEWLINE);
      sent();
    }
    options.onSent?.();
  } catch (err) {
    failure = err;
  }
  await next.catch(ignore);
  await handle.close().catch(ignore);
  if (failure !== undefined) {
    sink.abort();
    throw failure;
  }
}
