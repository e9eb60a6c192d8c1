// `linedrop receive` starts Node's thread pool with 16 threads (libuv's default is 4), since its
// pipelined commits wait on the disk there many at once; UV_THREADPOOL_SIZE, when set, wins.
// The threads are counted in /proc/PID/task (Linux).
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { RawPeer, ServerProcess, frame, QUIT, withTempDir } from '../../support.js';

/** The server's threads once it has stored a file (the pool runs by then). */
async function threadsOfServer(dir: string, poolSize: string | undefined): Promise<number> {
  const before = process.env.UV_THREADPOOL_SIZE;
  if (poolSize === undefined) delete process.env.UV_THREADPOOL_SIZE;
  else process.env.UV_THREADPOOL_SIZE = poolSize;
  let server: ServerProcess;
  try {
    server = await ServerProcess.start(dir);
  } finally {
    if (before === undefined) delete process.env.UV_THREADPOOL_SIZE;
    else process.env.UV_THREADPOOL_SIZE = before;
  }
  try {
    const peer = await RawPeer.connect(server.port);
    await peer.write(Buffer.concat([frame(['one line']), QUIT]));
    assert.equal(await peer.statuses(2), 'AQ');
    peer.destroy();
    return (await readdir(`/proc/${server.pid}/task`)).length;
  } finally {
    await server.stop();
  }
}

describe('linedrop receive: the thread pool', {
  skip: process.platform !== 'linux' && 'counts threads in /proc',
}, () => {
  test('16 threads by default, 12 more than with UV_THREADPOOL_SIZE=4; an explicit size is kept', async (t) => {
    const dir = await withTempDir(t);
    const withFour = await threadsOfServer(dir, '4');
    const byDefault = await threadsOfServer(dir, undefined);
    const withEight = await threadsOfServer(dir, '8');
    assert.equal(byDefault - withFour, 12, `threads: ${byDefault} by default, ${withFour} with UV_THREADPOOL_SIZE=4`);
    assert.equal(withEight - withFour, 4, `threads: ${withEight} with UV_THREADPOOL_SIZE=8, ${withFour} with 4`);
  });
});
