// One upload on its way to disk: written to a temporary file in its folder, flushed, renamed into
// place in its connection's order, and undone when it is not stored.
//
// The calls that can wait on the disk go through Node's thread pool: creating the file (which
// waits for the journal while other files are being flushed), the data writes (`writev`), the
// data flush (`fdatasync`) and the folder flush. Closing, linking and renaming are quick metadata
// calls made directly: each trip through the thread pool costs more CPU than such a call, and on
// a 2-core machine that CPU is what a thousand small files are waiting for.
import { closeSync, fstatSync, linkSync, renameSync, statSync, unlinkSync, writevSync } from 'node:fs';
import type { Committable, Committer } from './commit.js';
import { syncDir } from './commit.js';
import { datasync, writeBuffers } from './disk-calls.js';
import { WriteGate } from './gate.js';
import { EarlierFileError, type FileTurn } from './order.js';
import type { FileSink, StoredFile } from './types.js';
import { ignore } from '../text.js';

/** Temporary files start with this and end with `.part`; nothing else in a folder does. */
export const TEMP_PREFIX = '.linedrop-';
export const TEMP_SUFFIX = '.part';

/** Bytes queued for the disk before `write` asks the caller to wait. */
const HIGH_WATER = 4 * 1024 * 1024;
/**
 * A complete file of at most this many bytes still waiting to be written is written directly
 * (into the page cache, microseconds) rather than through the thread pool.
 */
const DIRECT_WRITE = 64 * 1024;
/** Most buffers handed to one writev call. */
const MAX_IOVECS = 1024;
/**
 * Write-behind: once this many bytes of a file are written and not yet flushed, a flush to disk
 * (`fdatasync`) starts in the background while the upload goes on, and the next one starts as
 * soon as it ends if as much again is waiting: the disk works while the data arrives, and the
 * last flush, the one `A` waits for, has little left to do.
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

/** Streams a file to disk with batched `writev` calls and at most one write in flight. */
export class DiskFileSink implements FileSink, Committable {
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

  /** The temporary file's descriptor, once it is created. */
  private fd = -1;
  /** Resolves once the temporary file is created; rejects if it cannot be. */
  private readonly opened: Promise<void>;

  constructor(
    /** Creates the temporary file (it is not waited for: the upload is read meanwhile). */
    opening: Promise<number>,
    private readonly temp: string,
    readonly target: string,
    private readonly name: string,
    readonly folder: string,
    private readonly committer: Committer,
    /** This file's place in its connection's order. */
    private readonly turn: FileTurn,
    /** The turn of the connection's file before this one: renamed first, and stored if this one is. */
    private previous: FileTurn | undefined,
  ) {
    this.opened = opening.then((fd) => {
      this.fd = fd;
    });
    // A failure is seen by the first write, or by the commit or abort.
    this.opened.catch(ignore);
    this.flushing = this.flush();
  }

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
      await this.opened;
      await this.committer.commit(this);
      // Commits of one connection may overlap: this file is stored only if the one before it is.
      await this.previous?.stored;
      this.previous = undefined;
      this.turn.store();
      this.settlePlacement(true);
      return { name: this.name, location: this.target, bytes: this.bytes };
    } catch (err) {
      const undone = this.placed;
      this.settlePlacement(false);
      // Durable as it was: an earlier file's failure must not leave this one in place after a crash.
      if (undone && err instanceof EarlierFileError) await syncDir(this.folder).catch(ignore);
      this.discard();
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
   * replaced becomes the one that upload would put back. (Synchronous: no rename of the same
   * name can come between the checks and the moves.)
   */
  private settlePlacement(stored: boolean): void {
    if (!this.placed) return;
    this.placed = false;
    const list = unsettled.get(this.target) ?? [];
    const at = list.indexOf(this);
    const later = list[at + 1];
    list.splice(at, 1);
    if (list.length === 0) unsettled.delete(this.target);
    const replaced = this.replaced;
    this.replaced = undefined;
    if (stored) {
      if (replaced !== undefined) attempt(() => unlinkSync(replaced));
    } else if (later !== undefined) {
      // The later upload's second name points at this file: make it point at the one before.
      if (replaced === undefined) {
        const laterReplaced = later.replaced;
        if (laterReplaced !== undefined) attempt(() => unlinkSync(laterReplaced));
        later.replaced = undefined;
      } else if (later.replaced !== undefined) {
        const laterReplaced = later.replaced;
        attempt(() => renameSync(replaced, laterReplaced));
      } else {
        later.replaced = replaced;
      }
    } else if (this.holdsTarget()) {
      if (replaced !== undefined) attempt(() => renameSync(replaced, this.target));
      else attempt(() => unlinkSync(this.target));
    } else if (replaced !== undefined) {
      // Another process put a file of its own there: it stays.
      attempt(() => unlinkSync(replaced));
    }
  }

  /** Whether `k.txt` is still this upload's file. */
  private holdsTarget(): boolean {
    try {
      const now = statSync(this.target);
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
    await this.opened.catch(ignore);
    this.discard();
  }

  /** Flushes the file's data to disk and closes it. */
  async syncData(): Promise<void> {
    await datasync(this.fd);
    const { ino, dev } = fstatSync(this.fd);
    this.inode = { ino, dev };
    this.closed = true;
    closeSync(this.fd);
  }

  /** Puts the flushed file in place under its final name. */
  async moveIntoPlace(): Promise<void> {
    // In the connection's order: after the file before it (which may still be committing).
    await this.previous?.placed;
    // Keep the file this one replaces under a temporary name until the rename is durable, so a
    // failed folder flush can put it back. (A crash leaves it as a temporary file, removed at start.)
    const second = `${this.temp.slice(0, -TEMP_SUFFIX.length)}.previous${TEMP_SUFFIX}`;
    try {
      linkSync(this.target, second);
      this.replaced = second;
    } catch (err) {
      // ENOENT: nothing to replace. EPERM: the name is taken by a folder, which the rename refuses.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EPERM') throw err;
    }
    try {
      renameSync(this.temp, this.target);
    } catch (err) {
      const replaced = this.replaced;
      if (replaced !== undefined) attempt(() => unlinkSync(replaced));
      this.replaced = undefined;
      throw err;
    }
    this.placed = true;
    const list = unsettled.get(this.target);
    if (list) list.push(this);
    else unsettled.set(this.target, [this]);
    this.turn.place();
  }

  /** Closes and removes the temporary file (if it was created). */
  private discard(): void {
    if (this.fd < 0) return;
    if (!this.closed) {
      this.closed = true;
      attempt(() => closeSync(this.fd));
    }
    attempt(() => unlinkSync(this.temp));
  }

  private async flush(): Promise<void> {
    try {
      if (this.fd < 0) await this.opened;
      while (this.queue.length > 0 && !this.gate.hasFailed) {
        const batch = this.queue.length > MAX_IOVECS ? this.queue.splice(0, MAX_IOVECS) : this.queue;
        if (batch === this.queue) this.queue = [];
        let size = 0;
        for (const buf of batch) size += buf.length;
        if (this.finished && size <= DIRECT_WRITE) writeAllNow(this.fd, batch, size);
        else await writeAll(this.fd, batch, size);
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
    this.syncing = datasync(this.fd).then(
      () => {
        this.syncing = undefined;
        // Keep the disk busy: what arrived during this flush goes next, unless the file is complete
        // (its commit makes the last flush).
        if (this.unsynced >= SYNC_EVERY && !this.finished && !this.gate.hasFailed) this.startSync();
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

/** Writes every byte of `buffers`, carrying on after a short write. */
async function writeAll(fd: number, buffers: Buffer[], size: number): Promise<void> {
  let bytesWritten = await writeBuffers(fd, buffers);
  while (bytesWritten < size) {
    buffers = after(buffers, bytesWritten);
    size -= bytesWritten;
    bytesWritten = await writeBuffers(fd, buffers);
  }
}

/** `writeAll`, made directly (for a few KiB). */
function writeAllNow(fd: number, buffers: Buffer[], size: number): void {
  let bytesWritten = writevSync(fd, buffers);
  while (bytesWritten < size) {
    buffers = after(buffers, bytesWritten);
    size -= bytesWritten;
    bytesWritten = writevSync(fd, buffers);
  }
}

/** What is left of `buffers` after a short write of `written` bytes. */
function after(buffers: Buffer[], written: number): Buffer[] {
  let skip = written;
  const rest: Buffer[] = [];
  for (const buf of buffers) {
    if (skip >= buf.length) {
      skip -= buf.length;
      continue;
    }
    rest.push(skip > 0 ? buf.subarray(skip) : buf);
    skip = 0;
  }
  return rest;
}

/** Runs a clean-up step whose failure changes nothing for the caller (the name is gone or was never there). */
function attempt(step: () => void): void {
  try {
    step();
  } catch {
    // Nothing to undo.
  }
}

/** Files renamed into place whose commit has not settled yet, per path, oldest rename first. */
const unsettled = new Map<string, DiskFileSink[]>();
