import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EarlierFileError, FileOrder, type FileTurn } from './order.js';
import { type Committer, GroupCommitter, SingleCommitter, syncDir } from './commit.js';
import { WriteGate } from './gate.js';
import { sessionName, type ConnectionInfo, type ConnectionStore, type FileSink, type Layout, type Storage, type StoredFile } from './types.js';

/** Temporary files start with this and end with `.part`; nothing else in a folder does. */
export const TEMP_PREFIX = '.linedrop-';
export const TEMP_SUFFIX = '.part';

/** Bytes queued for the disk before `write` asks the caller to wait. */
const HIGH_WATER = 4 * 1024 * 1024;
/** Most buffers handed to one writev call. */
const MAX_IOVECS = 1024;
/**
 * Write-behind: once this many bytes of a file are written, their flush to disk (`fdatasync`)
 * starts in the background while the upload goes on, so a large file reaches the disk as it
 * arrives and its last flush, the one `A` waits for, has little left to do.
 */
const SYNC_EVERY = 32 * 1024 * 1024;
/**
 * Bytes written but not yet flushed past which writing waits for the flush in progress: a disk
 * slower than the network holds the client back (through the queue, then TCP) instead of piling
 * up dirty pages.
 */
const MAX_UNSYNCED = 128 * 1024 * 1024;

export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX);
}

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
      const temp = join(this.location, `${TEMP_PREFIX}${name}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
      let handle: FileHandle;
      try {
        handle = await open(temp, 'wx', 0o644);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || this.mustCreate) throw err;
        // The upload folder was removed while the server runs ("created if missing"): make it again.
        await mkdir(this.location, { recursive: true });
        await syncDir(join(this.location, '..'));
        handle = await open(temp, 'wx', 0o644);
      }
      return new DiskFileSink(handle, temp, join(this.location, name), name, this.location, this.committer, turn, previous);
    } catch (err) {
      turn.fail(err);
      throw err;
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

/** Streams a file to disk with batched `writev` calls and at most one write in flight. */
class DiskFileSink implements FileSink {
  private queue: Buffer[] = [];
  private readonly gate = new WriteGate(HIGH_WATER);
  private bytes = 0;
  private flushing: Promise<void> | undefined;
  private finished = false;
  private closed = false;
  /** Bytes written since the last background flush started. */
  private unsynced = 0;
  /** The background flush in progress. */
  private syncing: Promise<void> | undefined;
  /** Set once the file is renamed into place, until its commit is settled. */
  private placed = false;
  /** A second name for the file this one replaced, kept until the commit is settled. */
  replaced: string | undefined;
  /** The file's identity, to tell whether `k.txt` still holds it. */
  private inode: { ino: number; dev: number } | undefined;

  constructor(
    private readonly handle: FileHandle,
    private readonly temp: string,
    readonly target: string,
    private readonly name: string,
    readonly folder: string,
    private readonly committer: Committer,
    /** This file's place in its connection's order. */
    private readonly turn: FileTurn,
    /** The turn of the connection's file before this one: renamed first, and stored if this one is. */
    private previous: FileTurn | undefined,
  ) {}

  write(data: Buffer): boolean {
    if (this.gate.hasFailed) return false;
    if (this.finished) return true;
    this.queue.push(data);
    this.gate.add(data.length);
    this.bytes += data.length;
    this.flushing ??= this.flush();
    return this.gate.open;
  }

  drained(): Promise<void> {
    return this.gate.drained();
  }

  async commit(): Promise<StoredFile> {
    this.finished = true;
    try {
      await this.flushing;
      await this.syncing;
      if (this.gate.hasFailed) throw this.gate.error;
      await this.committer.commit(this);
      // Commits of one connection may overlap: this file is stored only if the one before it is.
      await this.previous?.stored;
      this.previous = undefined;
      this.turn.store();
      await this.settlePlacement(true);
      return { name: this.name, location: this.target, bytes: this.bytes };
    } catch (err) {
      const undone = this.placed;
      await this.settlePlacement(false);
      // Durable as it was: an earlier file's failure must not leave this one in place after a crash.
      if (undone && err instanceof EarlierFileError) await syncDir(this.folder).catch(ignore);
      await this.discard();
      this.previous = undefined;
      this.turn.fail(err);
      throw err;
    }
  }

  /**
   * Ends the time between this file's rename and the folder flush that makes it durable.
   * Stored: the file it replaced goes. Not stored: the file must not stay as `k.txt`, but only
   * while `k.txt` still holds this upload is the file it replaced put back (or the name removed);
   * once a later upload has replaced it, that upload keeps the name, and the file this one
   * replaced becomes the one that upload would put back.
   */
  private async settlePlacement(stored: boolean): Promise<void> {
    if (!this.placed) return;
    this.placed = false;
    await withTargetLock(this.target, async () => {
      const list = unsettled.get(this.target) ?? [];
      const at = list.indexOf(this);
      const later = list[at + 1];
      list.splice(at, 1);
      if (list.length === 0) unsettled.delete(this.target);
      const replaced = this.replaced;
      this.replaced = undefined;
      if (stored) {
        if (replaced !== undefined) await rm(replaced, { force: true }).catch(ignore);
      } else if (later !== undefined) {
        // The later upload's second name points at this file: make it point at the one before.
        if (replaced === undefined) {
          if (later.replaced !== undefined) await rm(later.replaced, { force: true }).catch(ignore);
          later.replaced = undefined;
        } else if (later.replaced !== undefined) {
          await rename(replaced, later.replaced).catch(ignore);
        } else {
          later.replaced = replaced;
        }
      } else if (await this.holdsTarget()) {
        if (replaced !== undefined) await rename(replaced, this.target).catch(ignore);
        else await rm(this.target, { force: true }).catch(ignore);
      } else if (replaced !== undefined) {
        // Another process put a file of its own there: it stays.
        await rm(replaced, { force: true }).catch(ignore);
      }
    });
  }

  /** Whether `k.txt` is still this upload's file. */
  private async holdsTarget(): Promise<boolean> {
    try {
      const now = await stat(this.target);
      return now.ino === this.inode?.ino && now.dev === this.inode.dev;
    } catch {
      return false;
    }
  }

  async abort(): Promise<void> {
    this.finished = true;
    this.previous = undefined;
    this.turn.fail(new Error('the file was abandoned'));
    this.queue = [];
    await this.flushing;
    await this.syncing;
    await this.discard();
  }

  /** Flushes the file's data to disk and closes it. */
  async syncData(): Promise<void> {
    await this.handle.datasync();
    this.closed = true;
    await this.handle.close();
  }

  /** Puts the flushed file in place under its final name. */
  async moveIntoPlace(): Promise<void> {
    // In the connection's order: after the file before it (which may still be committing).
    await this.previous?.placed;
    const { ino, dev } = await stat(this.temp);
    this.inode = { ino, dev };
    // Keep the file this one replaces under a temporary name until the rename is durable, so a
    // failed folder flush can put it back. (A crash leaves it as a temporary file, removed at start.)
    const second = `${this.temp.slice(0, -TEMP_SUFFIX.length)}.previous${TEMP_SUFFIX}`;
    await withTargetLock(this.target, async () => {
      try {
        await link(this.target, second);
        this.replaced = second;
      } catch (err) {
        // ENOENT: nothing to replace. EPERM: the name is taken by a folder, which the rename refuses.
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'EPERM') throw err;
      }
      try {
        await rename(this.temp, this.target);
      } catch (err) {
        if (this.replaced !== undefined) await rm(this.replaced, { force: true }).catch(ignore);
        this.replaced = undefined;
        throw err;
      }
      this.placed = true;
      const list = unsettled.get(this.target);
      if (list) list.push(this);
      else unsettled.set(this.target, [this]);
    });
    this.turn.place();
  }

  private async discard(): Promise<void> {
    if (!this.closed) await this.handle.close().catch(() => undefined);
    await rm(this.temp, { force: true }).catch(() => undefined);
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.gate.hasFailed) {
        const batch = this.queue.length > MAX_IOVECS ? this.queue.splice(0, MAX_IOVECS) : this.queue;
        if (batch === this.queue) this.queue = [];
        let size = 0;
        for (const buf of batch) size += buf.length;
        await writeAll(this.handle, batch, size);
        this.unsynced += size;
        if (this.unsynced >= SYNC_EVERY) {
          if (this.syncing && this.unsynced >= MAX_UNSYNCED) await this.syncing;
          if (!this.syncing && !this.gate.hasFailed) this.startSync();
        }
        this.gate.remove(size);
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.flushing = undefined;
    }
  }

  /** Starts flushing what is written so far, in the background; a failure fails the file. */
  private startSync(): void {
    this.unsynced = 0;
    this.syncing = this.handle.datasync().then(
      () => {
        this.syncing = undefined;
      },
      (err: unknown) => {
        this.syncing = undefined;
        this.fail(err);
      },
    );
  }

  private fail(err: unknown): void {
    this.queue = [];
    this.gate.fail(err);
  }
}

async function writeAll(handle: FileHandle, buffers: Buffer[], size: number): Promise<void> {
  let { bytesWritten } = await handle.writev(buffers);
  while (bytesWritten < size) {
    // A short write: carry on from where it stopped.
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const buf of buffers) {
      if (skip >= buf.length) {
        skip -= buf.length;
        continue;
      }
      rest.push(skip > 0 ? buf.subarray(skip) : buf);
      skip = 0;
    }
    buffers = rest;
    size -= bytesWritten;
    ({ bytesWritten } = await handle.writev(buffers));
  }
}

function ignore(): void {}

/** Files renamed into place whose commit has not settled yet, per path, oldest rename first. */
const unsettled = new Map<string, DiskFileSink[]>();
/** The last rename or undo queued for each path: they run one at a time per path. */
const targetLocks = new Map<string, Promise<void>>();

/** Runs `task` once the renames and undos queued before it for `target` are done. */
function withTargetLock(target: string, task: () => Promise<void>): Promise<void> {
  const before = targetLocks.get(target) ?? Promise.resolve();
  const run = before.then(task);
  const tail = run.then(ignore, ignore);
  targetLocks.set(target, tail);
  void tail.then(() => {
    if (targetLocks.get(target) === tail) targetLocks.delete(target);
  });
  return run;
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
    if (code === 'EEXIST') throw folderError(`the upload folder ${dir} is a file, not a folder: name a folder (it is created if missing)`, err);
    if (code === 'ENOTDIR') throw folderError(`cannot create the upload folder ${dir}: a part of that path is a file, not a folder`, err);
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
      throw Object.assign(new Error(`the session folder ${path} exists already: do two servers sharing ${parent} have the same instance id?`, { cause: err }), {
        code,
      });
    }
    if (code !== 'ENOENT') throw err;
    // The upload folder itself was removed: make it again.
    await mkdir(parent, { recursive: true });
    await mkdir(path);
  }
  await syncDir(parent);
}
