// `DirectoryStorage`: uploads saved in a folder (flat or session layout), temporary files cleaned at start.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rm, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FileOrder } from './order.js';
import { type Committer, GroupCommitter, SingleCommitter, syncDir } from './commit.js';
import { createFile } from './disk-calls.js';
import { DiskFileSink, isTempName, TEMP_PREFIX, TEMP_SUFFIX } from './file-sink.js';
import {
  sessionName,
  type ConnectionInfo,
  type ConnectionStore,
  type FileSink,
  type Layout,
  type Storage,
} from './types.js';
import { ignore } from '../text.js';

/** Temporary names differ by a counter within a process; the random part tells processes apart across restarts. */
const TEMP_TAG = `${process.pid}.${randomBytes(4).toString('hex')}`;
let tempCounter = 0;

export interface DirectoryStorageOptions {
  dir: string;
  layout?: Layout;
  /** Names this server in session folder names, so instances sharing a folder never collide. */
  instanceId?: string;
  /**
   * Group commit (the default, `true`): each file's data is flushed (`fdatasync`) and the file
   * renamed into place as soon as its last write is done, concurrently with other uploads (the
   * file system merges their journal commits); the flush of the folder (`fsync`), which makes the
   * renames durable, is shared: files renamed into a folder while its flush is running wait for
   * it and then go together in the next one. `false`: every file gets a folder flush of its own.
   * Either way no commit resolves before its file's data and its rename are on disk.
   */
  groupCommit?: boolean;
}

/**
 * Uploads kept in a folder. `flat` (the lab's layout): every connection writes `1.txt`, `2.txt`,
 * ... into the folder itself, so later connections overwrite earlier files. `session`: every
 * connection gets a sub-folder of its own and nothing is ever overwritten.
 *
 * A file is written to a temporary name in its target folder, flushed to disk, renamed into
 * place, and the folder is flushed, before `commit` resolves. Files larger than 32 MiB are flushed
 * in the background as they arrive (write-behind), and a disk slower than the network holds the
 * upload back rather than letting dirty pages pile up.
 */
export class DirectoryStorage implements Storage {
  readonly location: string;
  readonly layout: Layout;
  readonly instanceId: string;
  /** An instance id was given: other servers may share the folder. */
  private readonly sharedFolder: boolean;
  readonly groupCommit: boolean;
  private sessions = 0;
  private readonly committer: Committer;
  private ready: Promise<number> | undefined;

  constructor(options: DirectoryStorageOptions) {
    this.location = resolve(options.dir);
    this.layout = options.layout ?? 'flat';
    this.instanceId = options.instanceId ?? randomBytes(3).toString('hex');
    this.sharedFolder = options.instanceId !== undefined;
    this.groupCommit = options.groupCommit ?? true;
    this.committer = this.groupCommit ? new GroupCommitter() : new SingleCommitter();
  }

  /**
   * Creates the folder if it is missing and checks that files can be created in it (a probe file,
   * removed), then removes what a crash left behind. Once it has succeeded, later calls return
   * the same result.
   * @throws Error saying why the folder cannot be used (it is a file, it cannot be created or written).
   */
  init(): Promise<number> {
    this.ready ??= this.prepare().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private async prepare(): Promise<number> {
    await prepareFolder(this.location);
    if (this.layout === 'flat') return removeLeftovers(this.location, 0);
    // Servers sharing a folder are told apart by the instance ids they were given: each removes
    // only what its own sessions left (another's temporary files may be uploads in progress). A
    // server with a random id is on its own, and cleans every session folder.
    const own = this.sharedFolder ? (name: string): boolean => sessionInstance(name) === this.instanceId : undefined;
    return removeLeftovers(this.location, 1, own);
  }

  openConnection(_info: ConnectionInfo): ConnectionStore {
    if (this.layout === 'flat') return new FolderStore(this.location, false, this.committer);
    return new FolderStore(join(this.location, sessionName(this.instanceId, ++this.sessions)), true, this.committer);
  }
}

class FolderStore implements ConnectionStore {
  /** Files are renamed into place in the order they were created, and stored only if every earlier one is. */
  readonly orderedCommits = true;
  private created: Promise<void> | undefined;
  private readonly order = new FileOrder();

  constructor(
    readonly location: string,
    private readonly mustCreate: boolean,
    private readonly committer: Committer,
  ) {}

  async create(index: number): Promise<FileSink> {
    const { turn, previous } = this.order.next();
    try {
      if (this.mustCreate) {
        this.created ??= makeSessionFolder(this.location);
        await this.created;
      }
      const name = `${index}.txt`;
      const temp = join(this.location, `${TEMP_PREFIX}${name}.${TEMP_TAG}.${++tempCounter}${TEMP_SUFFIX}`);
      const opening = this.createTemp(temp);
      return new DiskFileSink(
        opening,
        temp,
        join(this.location, name),
        name,
        this.location,
        this.committer,
        turn,
        previous,
      );
    } catch (err) {
      turn.fail(err);
      throw err;
    }
  }

  /** Creates a temporary file for writing; the descriptor. */
  private async createTemp(temp: string): Promise<number> {
    try {
      return await createFile(temp);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || this.mustCreate) throw err;
      // The upload folder was removed while the server runs ("created if missing"): make it again.
      await mkdir(this.location, { recursive: true });
      await syncDir(join(this.location, '..'));
      return createFile(temp);
    }
  }

  /** A session folder that holds no file (every file of the connection was refused) is removed. */
  async close(): Promise<void> {
    if (!this.mustCreate || this.created === undefined) return;
    await this.created.catch(ignore);
    // rmdir removes only an empty folder.
    await rmdir(this.location).catch(ignore);
  }
}

/**
 * Removes temporary files a crash left in `dir` and, `depth` levels down, in its sub-folders
 * (those `folders` accepts, if given).
 */
async function removeLeftovers(dir: string, depth: number, folders?: (name: string) => boolean): Promise<number> {
  let removed = 0;
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isFile() && isTempName(entry.name)) {
      await rm(path, { force: true });
      removed++;
    } else if (entry.isDirectory() && depth > 0 && (folders === undefined || folders(entry.name))) {
      removed += await removeLeftovers(path, depth - 1);
      // A session folder left empty goes too (rmdir removes only an empty folder).
      await rmdir(path).catch(ignore);
    }
  }
  return removed;
}

/** Makes the upload folder if it is missing, and checks that a file can be created and written in it. */
async function prepareFolder(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw folderError(
        `the upload folder ${dir} is a file, not a folder: name a folder (it is created if missing)`,
        err,
      );
    if (code === 'ENOTDIR')
      throw folderError(`cannot create the upload folder ${dir}: a part of that path is a file, not a folder`, err);
    throw folderError(`cannot create the upload folder ${dir}: ${(err as Error).message}`, err);
  }
  const probe = join(dir, `${TEMP_PREFIX}probe.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
  try {
    const handle = await open(probe, 'wx', 0o644);
    try {
      await handle.write('linedrop checks that it can write here\n');
    } finally {
      await handle.close();
    }
    await rm(probe);
  } catch (err) {
    await rm(probe, { force: true }).catch(ignore);
    throw folderError(`cannot write into the upload folder ${dir}: ${(err as Error).message}`, err);
  }
}

/** An error about the upload folder, with the file system's code and the original error as its cause. */
function folderError(message: string, cause: unknown): Error {
  const code = (cause as NodeJS.ErrnoException).code;
  return Object.assign(new Error(message, { cause }), typeof code === 'string' ? { code } : {});
}

/**
 * The instance id in a session folder's name (`<time>-<instance>-<counter>`), or undefined. The
 * time and the counter hold no `-`, so the id is what lies between the first and the last one.
 */
export function sessionInstance(name: string): string | undefined {
  return /^\d{8}T\d{9}Z-(.+)-\d{6,}$/.exec(name)?.[1];
}

/**
 * Creates a connection's session folder, which must be new: a name in use already would mean two
 * servers sharing the folder were given the same instance id, and its files must not be mixed.
 */
async function makeSessionFolder(path: string): Promise<void> {
  const parent = join(path, '..');
  try {
    await mkdir(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw Object.assign(
        new Error(
          `the session folder ${path} exists already: do two servers sharing ${parent} have the same instance id?`,
          { cause: err },
        ),
        {
          code,
        },
      );
    }
    if (code !== 'ENOENT') throw err;
    // The upload folder itself was removed: make it again.
    await mkdir(parent, { recursive: true });
    await mkdir(path);
  }
  await syncDir(parent);
}
