// Standard input for `send -`: its lines must be counted before the first byte is sent, so it is
// read to the end first. Up to a threshold it is kept in memory; past it, it goes to a temporary
// file (in a folder of its own, removed by `remove()`), so memory stays bounded whatever comes in.
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { LineTally, type FileShape } from '../client/measure.js';

/** Standard input kept in memory up to this many bytes; more goes to a temporary file. */
export const DEFAULT_SPOOL_THRESHOLD = 8 * 1024 * 1024;

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
  let out: WriteStream | undefined;
  const remove = async (): Promise<void> => {
    out?.destroy();
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  };
  try {
    for await (const data of input as AsyncIterable<Buffer | string>) {
      const chunk = typeof data === 'string' ? Buffer.from(data) : data;
      tally.add(chunk);
      options.onProgress?.(tally.bytes);
      if (out === undefined) {
        chunks.push(chunk);
        if (tally.bytes <= threshold) continue;
        folder = await mkdtemp(join(options.tempDir ?? tmpdir(), 'linedrop-stdin-'));
        options.onTempDir?.(folder);
        out = createWriteStream(join(folder, 'stdin'));
        const held = chunks;
        chunks = [];
        for (const c of held) if (!out.write(c)) await once(out, 'drain');
        continue;
      }
      if (!out.write(chunk)) await once(out, 'drain');
    }
    if (out === undefined) return { shape: tally.shape, body: Buffer.concat(chunks), remove };
    out.end();
    await once(out, 'close');
    return { shape: tally.shape, path: out.path.toString(), remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
