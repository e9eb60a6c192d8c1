// Faults injected into the real file-system calls of DirectoryStorage, under a real server. The
// storage opens its files with `fs.open`, its folders with `fs.openSync`, and waits on the disk through
// `fs.writev`, `fs.fdatasync` and `fs.fsync`; those are wrapped here (and the change pushed into
// the ES module bindings with syncBuiltinESMExports), so each file or folder opened meanwhile gets
// a handle whose `writev`, `datasync` or `sync` a test can slow down or make fail, one chosen call.
import { createRequire, syncBuiltinESMExports } from 'node:module';

const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');

/** An error as the file system reports it: a message, a `code`, a `syscall`. */
export function fsError(code: string, message: string, syscall: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: ${message}, ${syscall} (injected)`) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = syscall;
  return err;
}

/** A file or folder the storage opened: replace a method to change what that call does. */
export interface FaultHandle {
  readonly path: string;
  readonly fd: number;
  /** The data writes of a file (`fs.writev`). */
  writev(buffers: Buffer[]): Promise<{ bytesWritten: number }>;
  /** The data writes of a small complete file, made directly (`fs.writevSync`). */
  writevSync(buffers: Buffer[]): number;
  /** The data flush of a file (`fs.fdatasync`). */
  datasync(): Promise<void>;
  /** The flush of a folder (`fs.fsync`). */
  sync(): Promise<void>;
}

type Callback = (err: NodeJS.ErrnoException | null, ...rest: unknown[]) => void;

/**
 * Runs `run` with every file and folder opened meanwhile passed to `patch` (by its path) first;
 * `onRename`, if given, hears of every rename once it is done.
 */
export async function withFailingHandles<T>(
  patch: (path: string, handle: FaultHandle) => void,
  run: () => Promise<T>,
  onRename?: (from: string, to: string) => void,
): Promise<T> {
  const real = {
    open: fs.open,
    openSync: fs.openSync,
    closeSync: fs.closeSync,
    writev: fs.writev,
    writevSync: fs.writevSync,
    fdatasync: fs.fdatasync,
    fsync: fs.fsync,
    renameSync: fs.renameSync,
  };
  const handles = new Map<number, FaultHandle>();
  const settle = (promise: Promise<unknown>, callback: Callback, result: (value: never) => unknown[]): void => {
    promise.then(
      (value) => callback(null, ...result(value as never)),
      (err: NodeJS.ErrnoException) => callback(err),
    );
  };
  const track = (path: string, fd: number): void => {
    const handle: FaultHandle = {
      path,
      fd,
      writev: (buffers) =>
        new Promise((resolve, reject) =>
          real.writev(fd, buffers, (err, bytesWritten) => (err ? reject(err) : resolve({ bytesWritten }))),
        ),
      writevSync: (buffers) => real.writevSync(fd, buffers),
      datasync: () => new Promise((resolve, reject) => real.fdatasync(fd, (err) => (err ? reject(err) : resolve()))),
      sync: () => new Promise((resolve, reject) => real.fsync(fd, (err) => (err ? reject(err) : resolve()))),
    };
    patch(path, handle);
    handles.set(fd, handle);
  };
  fs.openSync = ((path: Parameters<typeof fs.openSync>[0], ...rest: [never]) => {
    const fd = real.openSync(path, ...rest);
    track(String(path), fd);
    return fd;
  }) as typeof fs.openSync;
  fs.open = ((path: Parameters<typeof fs.openSync>[0], ...rest: unknown[]) => {
    const callback = rest.pop() as (err: NodeJS.ErrnoException | null, fd: number) => void;
    (real.open as (...args: unknown[]) => void)(path, ...rest, (err: NodeJS.ErrnoException | null, fd: number) => {
      if (!err) track(String(path), fd);
      callback(err, fd);
    });
  }) as typeof fs.open;
  fs.closeSync = ((fd: number) => {
    handles.delete(fd);
    real.closeSync(fd);
  }) as typeof fs.closeSync;
  fs.writev = ((fd: number, buffers: Buffer[], ...rest: unknown[]) => {
    const callback = rest.pop() as Callback;
    const handle = handles.get(fd);
    if (!handle) return (real.writev as (...args: unknown[]) => void)(fd, buffers, ...rest, callback);
    settle(handle.writev(buffers), callback, (r: { bytesWritten: number }) => [r.bytesWritten, buffers]);
  }) as typeof fs.writev;
  fs.writevSync = ((fd: number, buffers: Buffer[], ...rest: unknown[]) => {
    const handle = handles.get(fd);
    if (!handle) return (real.writevSync as (...args: unknown[]) => number)(fd, buffers, ...rest);
    return handle.writevSync(buffers);
  }) as typeof fs.writevSync;
  fs.fdatasync = ((fd: number, callback: Callback) => {
    const handle = handles.get(fd);
    if (!handle) return real.fdatasync(fd, callback);
    settle(handle.datasync(), callback, () => []);
  }) as typeof fs.fdatasync;
  fs.fsync = ((fd: number, callback: Callback) => {
    const handle = handles.get(fd);
    if (!handle) return real.fsync(fd, callback);
    settle(handle.sync(), callback, () => []);
  }) as typeof fs.fsync;
  fs.renameSync = ((from: string, to: string) => {
    real.renameSync(from, to);
    onRename?.(String(from), String(to));
  }) as typeof fs.renameSync;
  syncBuiltinESMExports();
  try {
    return await run();
  } finally {
    Object.assign(fs, real);
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
