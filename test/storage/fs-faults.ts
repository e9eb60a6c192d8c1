// Faults injected into the real file-system calls of DirectoryStorage, under a real server:
// `fs/promises.open` is wrapped (and the change pushed into the ES module bindings with
// syncBuiltinESMExports), so the handles DirectoryStorage opens can be slowed down or made to fail
// in one chosen call (writev, datasync, a folder's fsync).
import type { FileHandle } from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';

const fsp = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises');

/** An error as the file system reports it: a message, a `code`, a `syscall`. */
export function fsError(code: string, message: string, syscall: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: ${message}, ${syscall} (injected)`) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = syscall;
  return err;
}

/** Runs `run` with every handle opened meanwhile passed to `patch` (by its path) first. */
export async function withFailingHandles<T>(patch: (path: string, handle: FileHandle) => void, run: () => Promise<T>): Promise<T> {
  const original = fsp.open;
  fsp.open = (async (...args: Parameters<typeof original>) => {
    const handle = await original(...args);
    patch(String(args[0]), handle);
    return handle;
  }) as typeof original;
  syncBuiltinESMExports();
  try {
    return await run();
  } finally {
    fsp.open = original;
    syncBuiltinESMExports();
  }
}

/** What one call does instead of (or before) the real one: `n` counts the calls from 1. */
export type Fault = (n: number, real: () => Promise<void>) => Promise<void>;

/** Faults in the flushes DirectoryStorage makes. */
export interface FlushFaults {
  /** Each `fsync` of the folder `folder` (the flush that makes renames durable). */
  folderSync?: Fault;
  /** Each `fdatasync` of a file. */
  datasync?: Fault;
}

/** Runs `run` with the flushes of `folder` and its files going through `faults`. */
export function withFlushFaults<T>(folder: string, faults: FlushFaults, run: () => Promise<T>): Promise<T> {
  let folderSyncs = 0;
  let datasyncs = 0;
  return withFailingHandles((path, handle) => {
    if (path === folder && faults.folderSync) {
      const real = handle.sync.bind(handle);
      const fault = faults.folderSync;
      handle.sync = () => fault(++folderSyncs, real);
    } else if (path !== folder && faults.datasync) {
      const real = handle.datasync.bind(handle);
      const fault = faults.datasync;
      handle.datasync = () => fault(++datasyncs, real);
    }
  }, run);
}

/** A gate a fault can wait at until the test opens it. */
export class Gate {
  readonly opened: Promise<void>;
  open!: () => void;
  constructor() {
    this.opened = new Promise((resolve) => (this.open = resolve));
  }
}
