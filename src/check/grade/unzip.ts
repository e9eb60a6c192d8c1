// A class as a course site exports it: one .zip, an entry per student (a file, or a folder of
// files). Unpacked safely into a folder of grade's own: no entry may leave that folder (`..`,
// absolute paths and backslashed Windows paths are refused), symbolic links and other special
// files are refused, and the number of entries and the unpacked bytes are bounded (counted as
// they are written, not only as the zip declares them). yauzl reads the zip; it is loaded only
// when a zip is graded.
import { createWriteStream } from 'node:fs';
import { LinedropError } from '../../errors.js';
import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { formatBytes } from '../../text.js';

export interface UnzipLimits {
  /** The most bytes the entries may unpack to, all together. */
  maxBytes: number;
  /** The most entries (files and folders) the zip may hold. */
  maxEntries: number;
}

export const DEFAULT_UNZIP_LIMITS: UnzipLimits = { maxBytes: 1024 * 1024 * 1024, maxEntries: 20_000 };

/**
 * A zip of submissions refused whole: unreadable, an entry leaving the folder or a link, or past the size or entry
 * limits.
 */
export class BadZipError extends LinedropError<'LINEDROP_ERR_BAD_ZIP'> {
  override name = 'BadZipError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('LINEDROP_ERR_BAD_ZIP', message, options);
  }
}

/** A student's part of the zip: their name as the course site wrote it, and their files under it. */
export interface Unpacked {
  student: string;
  /** Absolute path of the student's folder (holding their files). */
  folder: string;
  /** The student's files, relative to `folder`. */
  files: string[];
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/**
 * The student and the path under them, from an entry's first component and the rest:
 * Moodle's `Alice Smith_123_assignsubmission_file_/tcp.py` (a folder) or
 * `Alice Smith_123_assignsubmission_file_tcp.py` (a file), Canvas's `smithalice_12345_678_tcp.py`
 * or `smith_alice_LATE_12345_678_tcp.py`; anything else is the student's own name (`alice.py`,
 * `alice/tcp.py`).
 */
export function studentOf(head: string, rest: string): { student: string; path: string } {
  const moodleFolder = /^(.+?)_\d+_assign(?:submission|feedback)_[a-z]+_?$/.exec(head);
  if (moodleFolder && rest) return { student: moodleFolder[1]!, path: rest };
  const moodleFile = /^(.+?)_\d+_assign(?:submission|feedback)_[a-z]+_(.+)$/.exec(head);
  if (moodleFile && !rest) return { student: moodleFile[1]!, path: moodleFile[2]! };
  const canvas = /^(.+?)_(?:LATE_)?\d+_\d+_(.+)$/.exec(head);
  if (canvas && !rest) return { student: canvas[1]!, path: canvas[2]! };
  return { student: head, path: rest || head };
}

/** Files the zip tools of other systems add: left out. */
function isClutter(name: string): boolean {
  return name.startsWith('__MACOSX/') || /(^|\/)\.DS_Store$/.test(name);
}

/** Passes bytes on while the class's total stays within the limit. */
function counter(state: { bytes: number }, limits: UnzipLimits, zip: string): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      state.bytes += chunk.length;
      if (state.bytes > limits.maxBytes) {
        done(
          new BadZipError(
            `${zip} unpacks to more than ${formatBytes(limits.maxBytes)}: it is ` +
              `refused; raise --max-unzipped if the class really is that big`,
          ),
        );
      } else done(null, chunk);
    },
  });
}

/**
 * Unpacks `zip` into `into` (created; it should be new or empty), each student under a folder of
 * their own: `into/<student>/<their files>`. A single folder holding the whole class is looked
 * through. Refuses the whole zip (BadZipError, nothing graded) at the first entry that is not safe.
 */
export async function unzipClass(
  zip: string,
  into: string,
  limits: UnzipLimits = DEFAULT_UNZIP_LIMITS,
): Promise<Unpacked[]> {
  const yauzl = await import('yauzl');
  let file: import('yauzl').ZipFile;
  try {
    file = await yauzl.openPromise(zip, {
      lazyEntries: true,
      autoClose: false,
      validateEntrySizes: true,
      strictFileNames: false,
    });
  } catch (e) {
    throw new BadZipError(`${zip} cannot be read as a zip: ${unsafeWhy((e as Error).message)}`);
  }
  try {
    if (file.entryCount > limits.maxEntries) {
      throw new BadZipError(
        `${zip} holds ${file.entryCount} entries, more than the ${limits.maxEntries} a class may: it is refused`,
      );
    }
    // First the names, types and declared sizes of every entry: nothing is written unless all are safe.
    const entries: import('yauzl').Entry[] = [];
    let declared = 0;
    await new Promise<void>((resolveAll, reject) => {
      file.on('entry', (entry: import('yauzl').Entry) => {
        entries.push(entry);
        file.readEntry();
      });
      file.once('end', resolveAll);
      file.once('error', reject);
      file.readEntry();
    }).catch((e: unknown) => {
      throw e instanceof BadZipError ? e : new BadZipError(`${zip} is refused: ${unsafeWhy((e as Error).message)}`);
    });
    const wanted = entries.filter((e) => !isClutter(e.fileName));
    for (const entry of wanted) {
      const name = entry.fileName;
      const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
      const isDir = name.endsWith('/');
      if (type === S_IFLNK)
        throw new BadZipError(
          `${zip}: the entry "${name}" is a symbolic link: the zip is refused ` +
            `(a link could point anywhere on this machine)`,
        );
      if (type !== 0 && type !== (isDir ? S_IFDIR : S_IFREG))
        throw new BadZipError(`${zip}: the entry "${name}" is not a plain file or folder: the zip is refused`);
      if (inside(into, name) === null)
        throw new BadZipError(
          `${zip}: the entry "${name}" would be written outside the folder it ` +
            `is unpacked into: the zip is refused`,
        );
      declared += entry.uncompressedSize;
      if (declared > limits.maxBytes) {
        throw new BadZipError(
          `${zip} unpacks to more than ${formatBytes(limits.maxBytes)}: it is refused; raise ` +
            `--max-unzipped if the class really is that big`,
        );
      }
    }
    // The whole class in one folder (class/alice.py, class/bob/...): look through it.
    const tops = new Set(wanted.map((e) => e.fileName.split('/')[0]));
    const strip = tops.size === 1 && wanted.every((e) => e.fileName.includes('/')) ? `${[...tops][0]}/` : '';
    const students = new Map<string, Unpacked>();
    const state = { bytes: 0 };
    for (const entry of wanted) {
      if (entry.fileName.endsWith('/')) continue;
      const name = entry.fileName.slice(strip.length);
      const cut = name.indexOf('/');
      const { student, path } = studentOf(
        cut === -1 ? name : name.slice(0, cut),
        cut === -1 ? '' : name.slice(cut + 1),
      );
      const key = student.trim() || 'submission';
      let s = students.get(key);
      if (!s) {
        s = {
          student: key,
          folder: resolve(
            into,
            `${String(students.size + 1).padStart(3, '0')}-${key.replace(/[^A-Za-z0-9._-]+/g, '_')}`,
          ),
          files: [],
        };
        students.set(key, s);
      }
      const target = inside(s.folder, path);
      if (target === null)
        throw new BadZipError(
          `${zip}: the entry "${entry.fileName}" would be written outside the ` +
            `folder it is unpacked into: the zip is refused`,
        );
      await mkdir(dirname(target), { recursive: true });
      const mode = ((entry.externalFileAttributes >>> 16) & 0o111) !== 0 ? 0o755 : 0o644;
      const stream = await new Promise<NodeJS.ReadableStream>((ok, fail) =>
        file.openReadStream(entry, (e, s) => (e ? fail(e) : ok(s))),
      );
      try {
        await pipeline(stream, counter(state, limits, zip), createWriteStream(target, { flags: 'wx', mode }));
      } catch (e) {
        throw e instanceof BadZipError
          ? e
          : new BadZipError(
              `${zip}: the entry "${entry.fileName}" cannot be unpacked: ${unsafeWhy((e as Error).message)}`,
            );
      }
      s.files.push(path);
    }
    return [...students.values()];
  } finally {
    file.close();
  }
}

/** `name` under `root`, or null when it would leave it (absolute, `..`, a drive letter, a backslash). */
function inside(root: string, name: string): string | null {
  if (!name || name.includes('\\') || name.includes('\0') || isAbsolute(name) || /^[A-Za-z]:/.test(name)) return null;
  if (name.split('/').includes('..')) return null;
  const target = resolve(root, name);
  const rel = relative(root, target);
  return rel && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel) ? target : null;
}

/** yauzl's words for an unsafe name, in ours. */
function unsafeWhy(message: string): string {
  if (/^absolute path/.test(message))
    return (
      `an entry has an absolute path (${message.replace(/^absolute path: /, '')}), which would ` +
      `be written outside the folder`
    );
  if (/^invalid relative path/.test(message))
    return `an entry's path leaves the folder (${message.replace(/^invalid relative path: /, '')})`;
  return message;
}
