// The file-system calls of DirectoryStorage that wait on the disk, each a trip through Node's
// thread pool (the quick metadata calls are made directly, see file-sink.ts). The callback API is
// used, looked up at each call, so that a test wrapping `node:fs` sees every one.
import { fdatasync, fsync, open, writev } from 'node:fs';

/** Creates a new file for writing (it must not exist): its descriptor. */
export function createFile(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    open(path, 'wx', 0o644, (err, fd) => (err ? reject(err) : resolve(fd)));
  });
}

/** One `writev`: the bytes it wrote (possibly fewer than given). */
export function writeBuffers(fd: number, buffers: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => {
    writev(fd, buffers, (err, written) => (err ? reject(err) : resolve(written)));
  });
}

/** Flushes a file's data (`fdatasync`). */
export function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fdatasync(fd, (err) => (err ? reject(err) : resolve()));
  });
}

/** Flushes a file or folder, metadata included (`fsync`). */
export function fullSync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fsync(fd, (err) => (err ? reject(err) : resolve()));
  });
}
