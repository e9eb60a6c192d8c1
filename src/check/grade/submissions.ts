// Which submissions a `grade` run covers: the entries of a folder, the files and folders named,
// or the students of a course site's .zip (unpacked by unzip.ts).
import { LinedropError } from '../../errors.js';
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { type UnzipLimits, unzipClass } from './unzip.js';

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
  return safe(stem);
}

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_') || 'submission';
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
export async function findSubmissions(
  paths: readonly string[],
  exclude: readonly string[] = [],
): Promise<Submission[]> {
  if (paths.length === 0)
    throw new NoSubmissionsError('no submission given: name a folder of submissions, or the files');
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
  return unique(sources.map((s) => ({ name: safeName(s.path, s.kind), source: s.path, kind: s.kind })));
}

/** The names made unique in the class: the second `alice` is `alice-2`. */
function unique(subs: readonly Submission[]): Submission[] {
  const used = new Map<string, number>();
  return subs.map((s) => {
    let name = s.name;
    const n = (used.get(name) ?? 0) + 1;
    used.set(name, n);
    if (n > 1) name = `${name}-${n}`;
    return { ...s, name };
  });
}

/** True for a path grade reads as a course site's export: a `.zip`. */
export function isZip(path: string): boolean {
  return extname(path).toLowerCase() === '.zip';
}

/**
 * A course site's .zip unpacked into `into`: a submission per student, named after the student as
 * the site wrote them (`Alice Smith` is `Alice_Smith`). A student with one file is graded as that
 * file (so `{file}` is their .py); a student with several, as the folder of them.
 */
export async function submissionsFromZip(zip: string, into: string, limits?: UnzipLimits): Promise<Submission[]> {
  const students = await unzipClass(resolve(zip), into, limits);
  if (students.length === 0) throw new NoSubmissionsError(`${zip}: the zip holds no submission`);
  const subs = students
    .map(
      (s): Submission =>
        s.files.length === 1 && !s.files[0]!.includes('/')
          ? { name: safe(s.student), source: join(s.folder, s.files[0]!), kind: 'file' }
          : { name: safe(s.student), source: s.folder, kind: 'folder' },
    )
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return unique(subs);
}
