// Standard input for `send -`: its lines must be counted before the first byte is sent, so it is
// read to the end first. Up to a threshold it is kept in memory; past it, it goes to a temporary
// file (in a folder of its own, removed by `remove()`), so memory stays bounded whatever comes in.
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { LineTally, type FileShape } from '../../client/measure.js';

/** Standard input kept in memory up to this many bytes; more goes to a temporary file. */
export const DEFAULT_SPOOL_THRESHOLD = 8 * 1024 * 1024;
/** Standard input is read in blocks of this size. */
const READ_CHUNK = 1024 * 1024;

export interface SpooledInput {
  shape: FileShape;
  /** The bytes, when they fitted under the threshold. */
  body?: Buffer;
  /** The temporary file holding them otherwise. */
  path?: string;
  /** Removes the temporary file and its folder (if any); safe to call more than once. */
  remove(): Promise<void>;
}

export interface SpoolOptions {
  thresholdBytes?: number;
  /** Folder for the temporary file (default: the system's). */
  tempDir?: string;
  /** Called with the bytes read so far. */
  onProgress?: (bytes: number) => void;
  /** Registers the temporary folder as soon as it exists, so an interrupted run can remove it. */
  onTempDir?: (dir: string) => void;
}

export async function spoolInput(input: Readable, options: SpoolOptions = {}): Promise<SpooledInput> {
  const threshold = options.thresholdBytes ?? DEFAULT_SPOOL_THRESHOLD;
  const tally = new LineTally();
  let chunks: Buffer[] = [];
  let folder: string | undefined;
  let out: FileHandle | undefined;
  let path: string | undefined;
  const remove = async (): Promise<void> => {
    await out?.close().catch(() => undefined);
    out = undefined;
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  };
  try {
    for await (const { chunk, reused } of chunksOf(input)) {
      tally.add(chunk);
      options.onProgress?.(tally.bytes);
      if (out === undefined) {
        chunks.push(reused ? Buffer.from(chunk) : chunk);
        if (tally.bytes <= threshold) continue;
        folder = await mkdtemp(join(options.tempDir ?? tmpdir(), 'linedrop-stdin-'));
        options.onTempDir?.(folder);
        path = join(folder, 'stdin');
        out = await open(path, 'wx', 0o600);
        const held = chunks;
        chunks = [];
        for (const c of held) await out.write(c);
        continue;
      }
      await out.write(chunk);
    }
    if (out === undefined) return { shape: tally.shape, body: Buffer.concat(chunks), remove };
    await out.close();
    out = undefined;
    return { shape: tally.shape, path: path!, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/**
 * The input's bytes. The process's own standard input, when it is a pipe or a file, is read
 * through `/dev/stdin` into one reused buffer (`reused`: copy what you keep), so reading a
 * gigabyte leaves no garbage behind; any other stream is read as a stream.
 */
async function* chunksOf(input: Readable): AsyncGenerator<{ chunk: Buffer; reused: boolean }> {
  let handle: FileHandle | undefined;
  if (input === process.stdin && process.stdin.isTTY !== true) {
    // Opened anew, the pipe reads in blocking mode (the stream's copy of it is non-blocking).
    handle = await open('/dev/stdin', 'r').catch(() => undefined);
  }
  if (handle === undefined) {
    for await (const data of input as AsyncIterable<Buffer | string>)
      yield { chunk: typeof data === 'string' ? Buffer.from(data) : data, reused: false };
    return;
  }
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return;
      yield { chunk: buffer.subarray(0, bytesRead), reused: true };
    }
  } finally {
    await handle.close();
  }
}
