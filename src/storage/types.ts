// The `Storage` interface the server writes through, and what it is told and tells back.
/** Who is uploading: what a storage needs to name a connection's files. */
export interface ConnectionInfo {
  /** Server-wide connection number, from 1. */
  id: number;
  remoteAddress: string;
  remotePort: number;
}

/** Where a stored file ended up. */
export interface StoredFile {
  /** The file's name within its connection, `k.txt`. */
  name: string;
  /** Full path or key of the stored file. */
  location: string;
  bytes: number;
}

/**
 * One file being received. Bytes go in with `write`; `commit` makes the file durable and
 * visible under its final name; `abort` throws the partial file away. Exactly one of the two is
 * called, once.
 */
export interface FileSink {
  /** Queues bytes. Returns false when the caller should wait for `drained()` before writing more. */
  write(data: Buffer): boolean;
  /** Resolves once queued bytes are below the high-water mark; rejects if storing failed. */
  drained(): Promise<void>;
  /** Writes out everything, makes it durable, then puts it in place. Rejects if any step failed. */
  commit(): Promise<StoredFile>;
  /** Discards the partial file. Never rejects. */
  abort(): Promise<void>;
}

/** The files of one connection. */
export interface ConnectionStore {
  /** A label for logs: the folder or prefix this connection writes into. */
  readonly location: string;
  /** Starts the connection's `index`-th file (`index.txt`). */
  create(index: number): Promise<FileSink>;
  /**
   * True when commits may overlap: the store puts its files in place in the order they were
   * created, and a file is stored (its commit resolves) only if every earlier one is; once one
   * fails, every later commit rejects and leaves nothing. A connection then reads and writes the
   * next message while earlier ones commit. Otherwise each commit ends before the next file starts.
   */
  readonly orderedCommits?: boolean;
  /**
   * The connection has ended, every file committed or aborted: a storage may tidy up (a session
   * folder that holds no file is removed). Never rejects.
   */
  close?(): Promise<void>;
}

/** A place to keep uploads: a folder on disk, object storage, or a test double. */
export interface Storage {
  /**
   * Prepares storage (creates the folder, removes what a crash left behind). Returns how many left-overs it removed.
   */
  init(): Promise<number>;
  openConnection(info: ConnectionInfo): ConnectionStore;
  /** Where uploads go, for logs. */
  readonly location: string;
}

export type Layout = 'flat' | 'session';

/** The folder uploads go to unless told otherwise. */
export const DEFAULT_DIR = 'received';
/** How uploads are laid out unless told otherwise. */
export const DEFAULT_LAYOUT: Layout = 'flat';

/**
 * `20261124T161530123Z-a1b2c3-000001`: time, instance, counter. Session names sort by time and never repeat within an
 * instance.
 */
export function sessionName(instanceId: string, counter: number, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  return `${stamp}-${instanceId}-${String(counter).padStart(6, '0')}`;
}
