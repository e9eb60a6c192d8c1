// A file's bytes from disk onto the connection: a small file read whole, a large one read in
// chunks of 4 MiB (the next read overlapping the send, through a few reused buffers) and checked
// against the shape it was measured with, so that a file that changed never makes a complete message.
import { open, stat, type FileHandle } from 'node:fs/promises';
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
 * Why a file cannot be sent, for a failure of the system (`ENOENT`, `EACCES`, `EISDIR`...) while it
 * was opened or read: `LINEDROP_ERR_FILE_UNREADABLE`, with `err` as its cause; what nothing of this kind
 * (a `ClientError`, a `ProtocolError`) is returned as it is. `partSent`: the message is cut short.
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
  return new ClientError('LINEDROP_ERR_FILE_UNREADABLE', `cannot read ${path}: ${reason}; ${outcome(partSent)}`, { cause: err });
}

/** What became of a message whose file failed, and of the connection. */
function outcome(partSent: boolean): string {
  return partSent ? 'part of it was sent, so the connection was closed' : 'nothing of it was sent; the connection is still open';
}

/** Thrown when a chunk comes back shorter than the shape says: the file shrank. */
class Shrank extends Error {}

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
export async function streamFile(path: string, shape: FileShape, sink: MessageSink, options: SendOptions, sent: () => void): Promise<void> {
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
  const readChunk = async (): Promise<Buffer> => {
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
    if (got < want) throw new Shrank();
    return buf.subarray(0, got);
  };
  let next: Promise<Buffer> = Promise.resolve(EMPTY);
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
    const unchanged = async (): Promise<void> => {
      // (A file that grew has changed too, though its first `shape.bytes` bytes may still match.)
      const { bytesRead: beyond } = await handle.read(Buffer.alloc(1), 0, 1, shape.bytes);
      if (beyond > 0 || !sameShape(tally.shape, shape)) throw new Shrank();
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
      if (!started) {
        started = true;
        await sink.write(encodeCount(shape.lines));
      }
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
  if (failure instanceof Shrank) failure = await changed(path, shape, started, handle);
  await handle.close().catch(ignore);
  if (failure !== undefined) throw unreadable(path, failure, started);
}

/** `LINEDROP_ERR_FILE_CHANGED` for a file that no longer matches `shape`, with its sizes when they differ. */
async function changed(path: string, shape: FileShape, started: boolean, handle: FileHandle): Promise<ClientError> {
  if (started) return new ClientError('LINEDROP_ERR_FILE_CHANGED', `${path} changed while it was being sent; ${outcome(true)}`);
  const now = await handle.stat().then(
    (info) => info.size,
    () => undefined,
  );
  const sizes = now !== undefined && now !== shape.bytes ? `${shape.bytes} bytes when measured, ${now} now` : 'its lines are not the ones measured';
  return new ClientError('LINEDROP_ERR_FILE_CHANGED', `${path} changed before it was sent (${sizes}); ${outcome(false)}`);
}
