// Which submissions a `grade` run covers: the entries of a folder, or the files and folders named.
import { LinedropError } from '../../errors.js';
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';

export interface Submission {
  /** Unique in the class and safe as a folder name: `alice` for `alice.py` or `alice/`. */
  name: string;
  /** Absolute path of the file or folder. */
  source: string;
  kind: 'file' | 'folder';
}

/** No submission to grade: the paths given name none. */
export class NoSubmissionsError extends LinedropError<'LINEDROP_ERR_NO_SUBMISSIONS'> {
  override name = 'NoSubmissionsError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('LINEDROP_ERR_NO_SUBMISSIONS', message, options);
  }
}

function safeName(path: string, kind: 'file' | 'folder'): string {
  const base = basename(path);
  const stem = kind === 'file' && extname(base) !== base ? base.slice(0, base.length - extname(base).length) : base;
  return stem.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_') || 'submission';
}

async function kindOf(path: string): Promise<'file' | 'folder'> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new NoSubmissionsError(`${path}: no such file or folder`);
  }
  if (info.isDirectory()) return 'folder';
  if (info.isFile()) return 'file';
  throw new NoSubmissionsError(`${path}: neither a file nor a folder`);
}

/**
 * One path that is a folder: each of its entries (files and sub-folders, hidden ones left out) is
 * a submission. Several paths, or one file: each path is a submission. `exclude` (the output
 * folder) is never one.
 */
export async function findSubmissions(paths: readonly string[], exclude: readonly string[] = []): Promise<Submission[]> {
  if (paths.length === 0) throw new NoSubmissionsError('no submission given: name a folder of submissions, or the files');
  const skip = new Set(exclude.map((p) => resolve(p)));
  let sources: { path: string; kind: 'file' | 'folder' }[] = [];
  const first = resolve(paths[0]!);
  if (paths.length === 1 && (await kindOf(first)) === 'folder') {
    const entries = (await readdir(first)).filter((e) => !e.startsWith('.')).sort();
    for (const entry of entries) {
      const path = join(first, entry);
      if (skip.has(path)) continue;
      sources.push({ path, kind: await kindOf(path) });
    }
    if (sources.length === 0) throw new NoSubmissionsError(`${paths[0]}: the folder holds no submission`);
  } else {
    for (const p of paths) sources.push({ path: resolve(p), kind: await kindOf(resolve(p)) });
  }
  sources = sources.filter((s) => !skip.has(s.path));
  const used = new Map<string, number>();
  return sources.map((s) => {
    let name = safeName(s.path, s.kind);
    const n = (used.get(name) ?? 0) + 1;
    used.set(name, n);
    if (n > 1) name = `${name}-${n}`;
    return { name, source: s.path, kind: s.kind };
  });
}
