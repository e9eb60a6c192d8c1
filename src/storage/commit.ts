// Committing a written file: its data flushed, renamed into place, and its folder flushed, one file
// at a time or in groups that share the folder flush.
import { closeSync, openSync } from 'node:fs';
import { fullSync } from './disk-calls.js';
import { ignore } from '../text.js';

/** Makes a written file durable and puts it in place; resolves only once both are on disk. */
export interface Committer {
  commit(file: Committable): Promise<void>;
}

/** What a committer needs of a written file. */
export interface Committable {
  /** The folder the file is renamed into. */
  readonly folder: string;
  /** Flushes the file's data (`fdatasync`). */
  syncData(): Promise<void>;
  /** Renames the temporary file to its final name. */
  moveIntoPlace(): Promise<void>;
}

/** One file at a time: flush its data, rename it, flush its folder. */
export class SingleCommitter implements Committer {
  async commit(file: Committable): Promise<void> {
    await file.syncData();
    await file.moveIntoPlace();
    await syncDir(file.folder);
  }
}

/**
 * Group commit. Each file's data is flushed (`fdatasync`) and the file renamed into place as soon
 * as its last write is done, concurrently with other files (the file system merges concurrent
 * journal commits); what is grouped is the folder flush: every file renamed into a folder while
 * that folder's flush is in progress waits for it to end and then shares the next one, so one
 * `fsync` of the folder covers a whole batch. A commit resolves only after its own rename and a
 * folder flush that started after that rename.
 */
export class GroupCommitter implements Committer {
  private readonly folders = new Map<string, FolderFlusher>();

  async commit(file: Committable): Promise<void> {
    await file.syncData();
    await file.moveIntoPlace();
    let flusher = this.folders.get(file.folder);
    if (!flusher) {
      flusher = new FolderFlusher(file.folder, () => this.folders.delete(file.folder));
      this.folders.set(file.folder, flusher);
    }
    await flusher.flush();
  }
}

/** Flushes one folder: at most one `fsync` at a time, and callers that arrive during one share the next. */
class FolderFlusher {
  private current: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(
    private readonly folder: string,
    private readonly onIdle: () => void,
  ) {}

  /** Resolves after a flush of the folder that started after this call. */
  flush(): Promise<void> {
    if (this.current === undefined) return this.start();
    // The flush in progress may have started before the caller's rename: wait for the next one.
    this.next ??= this.current.then(ignore, ignore).then(() => {
      this.next = undefined;
      return this.start();
    });
    return this.next;
  }

  private start(): Promise<void> {
    const run: Promise<void> = syncDir(this.folder).then(
      () => {
        this.settle(run);
      },
      (err: unknown) => {
        this.settle(run);
        throw err;
      },
    );
    this.current = run;
    return run;
  }

  private settle(run: Promise<void>): void {
    if (this.current === run) this.current = undefined;
    if (this.current === undefined && this.next === undefined) this.onIdle();
  }
}

/** Flushes a folder's entries (a rename or a new file) to disk. */
export async function syncDir(dir: string): Promise<void> {
  // Opening and closing are quick and made directly; the flush waits on the disk, in the thread pool.
  const fd = openSync(dir, 'r');
  try {
    await fullSync(fd);
  } finally {
    closeSync(fd);
  }
}
