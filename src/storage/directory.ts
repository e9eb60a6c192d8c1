import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ConnectionInfo, ConnectionStore, FileSink, Layout, Storage, StoredFile } from './types.js';

/** Temporary files start with this and end with `.part`; nothing else in a folder does. */
export const TEMP_PREFIX = '.linedrop-';
export const TEMP_SUFFIX = '.part';

/** Bytes queued for the disk before `write` asks the caller to wait. */
const HIGH_WATER = 4 * 1024 * 1024;
/** Most buffers handed to one writev call. */
const MAX_IOVECS = 1024;

export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX);
}

export interface DirectoryStorageOptions {
  dir: string;
  layout?: Layout;
  /** Names this server in session folder names, so instances sharing a folder never collide. */
  instanceId?: string;
}

/**
 * Uploads kept in a folder. `flat` (the lab's layout): every connection writes `1.txt`, `2.txt`,
 * ... into the folder itself, so later connections overwrite earlier files. `session`: every
 * connection gets a sub-folder of its own and nothing is ever overwritten.
 *
 * A file is written to a temporary name in its target folder, flushed to disk, renamed into
 * place, and the folder is flushed, before `commit` resolves.
 */
export class DirectoryStorage implements Storage {
  readonly location: string;
  readonly layout: Layout;
  readonly instanceId: string;
  private sessions = 0;

  constructor(options: DirectoryStorageOptions) {
    this.location = resolve(options.dir);
    this.layout = options.layout ?? 'flat';
    this.instanceId = options.instanceId ?? randomBytes(3).toString('hex');
  }

  async init(): Promise<number> {
    await mkdir(this.location, { recursive: true });
    return removeLeftovers(this.location, this.layout === 'session' ? 1 : 0);
  }

  openConnection(_info: ConnectionInfo): ConnectionStore {
    if (this.layout === 'flat') return new FolderStore(this.location, false);
    return new FolderStore(join(this.location, this.sessionName()), true);
  }

  /** `20261124T161530123Z-a1b2c3-000001`: time, instance, counter; sorts by time, never repeats. */
  private sessionName(): string {
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    return `${stamp}-${this.instanceId}-${String(++this.sessions).padStart(6, '0')}`;
  }
}

class FolderStore implements ConnectionStore {
  private created: Promise<void> | undefined;

  constructor(
    readonly location: string,
    private readonly mustCreate: boolean,
  ) {}

  async create(index: number): Promise<FileSink> {
    if (this.mustCreate) {
      this.created ??= mkdir(this.location, { recursive: true }).then(() => syncDir(join(this.location, '..')));
      await this.created;
    }
    const name = `${index}.txt`;
    const temp = join(this.location, `${TEMP_PREFIX}${name}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
    const handle = await open(temp, 'wx', 0o644);
    return new DiskFileSink(handle, temp, join(this.location, name), name, this.location);
  }
}

/** Streams a file to disk with batched `writev` calls and at most one write in flight. */
class DiskFileSink implements FileSink {
  private queue: Buffer[] = [];
  private queued = 0;
  private bytes = 0;
  private flushing: Promise<void> | undefined;
  private failure: unknown;
  private finished = false;
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(
    private readonly handle: FileHandle,
    private readonly temp: string,
    private readonly target: string,
    private readonly name: string,
    private readonly folder: string,
  ) {}

  write(data: Buffer): boolean {
    if (this.failure !== undefined || this.finished) return true;
    this.queue.push(data);
    this.queued += data.length;
    this.bytes += data.length;
    this.flushing ??= this.flush();
    return this.queued < HIGH_WATER;
  }

  drained(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.queued < HIGH_WATER) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async commit(): Promise<StoredFile> {
    this.finished = true;
    try {
      await this.flushing;
      if (this.failure !== undefined) throw this.failure;
      await this.handle.datasync();
      await this.handle.close();
      await rename(this.temp, this.target);
      await syncDir(this.folder);
      return { name: this.name, location: this.target, bytes: this.bytes };
    } catch (err) {
      await this.discard();
      throw err;
    }
  }

  async abort(): Promise<void> {
    this.finished = true;
    this.queue = [];
    await this.flushing;
    await this.discard();
  }

  private async discard(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(this.temp, { force: true }).catch(() => undefined);
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.length > MAX_IOVECS ? this.queue.splice(0, MAX_IOVECS) : this.queue;
        if (batch === this.queue) this.queue = [];
        let size = 0;
        for (const buf of batch) size += buf.length;
        await writeAll(this.handle, batch, size);
        this.queued -= size;
        if (this.queued < HIGH_WATER) this.release();
      }
    } catch (err) {
      this.failure = err;
      this.queue = [];
      this.queued = 0;
      this.release(err);
    } finally {
      this.flushing = undefined;
    }
  }

  private release(err?: unknown): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      if (err === undefined) waiter.resolve();
      else waiter.reject(err);
    }
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

/** Flushes a folder's entries (a rename or a new file) to disk. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes temporary files a crash left in `dir` and, `depth` levels down, in its sub-folders. */
async function removeLeftovers(dir: string, depth: number): Promise<number> {
  let removed = 0;
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isFile() && isTempName(entry.name)) {
      await rm(path, { force: true });
      removed++;
    } else if (entry.isDirectory() && depth > 0) {
      removed += await removeLeftovers(path, depth - 1);
    }
  }
  return removed;
}
