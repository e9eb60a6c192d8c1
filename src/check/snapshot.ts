// The `k.txt` files of a server's folder at one moment, and what changed between two moments.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Files bigger than this are compared by size, time and inode only. */
const MAX_READ = 16 * 1024 * 1024;

const NAME = /^(\d+)\.txt$/;

export interface FileState {
  name: string;
  size: number;
  mtimeMs: number;
  ino: number;
  /** The file's bytes (undefined when it is too big to read). */
  content: Buffer | undefined;
}

/** The `k.txt` files of a server's folder at one moment, by name. */
export type Snapshot = Map<string, FileState>;

/** Reads every `k.txt` at the top of `dir`. A missing folder is an empty snapshot. */
export async function snapshot(dir: string): Promise<Snapshot> {
  const out: Snapshot = new Map();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (!NAME.test(name)) continue;
    const state = await readState(dir, name);
    if (state) out.set(name, state);
  }
  return out;
}

export async function readState(dir: string, name: string): Promise<FileState | undefined> {
  try {
    const path = join(dir, name);
    const info = await stat(path);
    if (!info.isFile()) return undefined;
    const content = info.size <= MAX_READ ? await readFile(path) : undefined;
    return { name, size: info.size, mtimeMs: info.mtimeMs, ino: info.ino, content };
  } catch {
    return undefined;
  }
}

/** Files created or rewritten between two snapshots, in number order. */
export function changedFiles(before: Snapshot, after: Snapshot): FileState[] {
  const changed: FileState[] = [];
  for (const [name, now] of after) {
    const was = before.get(name);
    if (
      !was ||
      was.size !== now.size ||
      was.mtimeMs !== now.mtimeMs ||
      was.ino !== now.ino ||
      (was.content && now.content && !was.content.equals(now.content))
    ) {
      changed.push(now);
    }
  }
  return changed.sort((a, b) => fileNumber(a.name) - fileNumber(b.name));
}

export function fileNumber(name: string): number {
  const m = NAME.exec(name);
  return m ? Number(m[1]) : Number.NaN;
}

/** `1.txt (24 bytes), 2.txt (0 bytes)`, or `none`. */
export function filesText(files: readonly FileState[]): string {
  if (files.length === 0) return 'none';
  return files.map((f) => `${f.name} (${f.size} bytes)`).join(', ');
}
