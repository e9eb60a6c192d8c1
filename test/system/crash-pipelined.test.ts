// The server killed with SIGKILL while many messages of one connection are in flight (pipelined
// commits: some being written, some flushed, some renamed, some waiting for a folder flush).
// Whatever the moment, what survives is 1.txt .. j.txt with no gap, every file byte-exact, every
// file answered A among them; a restart removes the temporary files left and serves again.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isTempName } from '../../src/storage/file-sink.js';
import { QUIT, RawPeer, ServerProcess, frame, listDir, removeDir, tempDir, until } from '../support.js';

const COUNT = 400;

function lines(k: number): string[] {
  return Array.from({ length: 1 + (k % 7) }, (_, i) => `file ${k} line ${i} ${'x'.repeat((k * 13 + i) % 90)}`);
}

function body(k: number): string {
  return lines(k)
    .map((l) => `${l}\n`)
    .join('');
}

describe('the server killed with SIGKILL while messages are in flight', () => {
  for (const killAfter of [1, 40, 150]) {
    test(
      `after ${killAfter} A's of ${COUNT} messages sent at once: files 1..j with no gap, ` +
        `byte-exact, every A among them; a restart cleans up`,
      async () => {
        const dir = await tempDir();
        let server: ServerProcess | undefined;
        let again: ServerProcess | undefined;
        let peer: RawPeer | undefined;
        try {
          server = await ServerProcess.start(dir);
          peer = await RawPeer.connect(server.port);
          const stream = Buffer.concat(Array.from({ length: COUNT }, (_, i) => frame(lines(i + 1))));
          void peer.write(stream).catch(() => undefined);
          assert.equal(
            await until(() => peer!.received.length >= killAfter, 20_000),
            true,
            `${killAfter} answers came`,
          );
          await server.crash();
          const answered = peer.received.filter((b) => b === 0x41).length;
          peer.destroy();

          const names = await listDir(dir);
          const stored = names.filter((n) => !isTempName(n));
          const j = stored.length;
          assert.deepEqual(
            stored,
            Array.from({ length: j }, (_, i) => `${i + 1}.txt`).sort(),
            `the files are 1.txt..${j}.txt with no gap`,
          );
          assert.ok(j >= answered, `${answered} answered A, ${j} stored`);
          for (let k = 1; k <= j; k++)
            assert.equal(await readFile(join(dir, `${k}.txt`), 'utf8'), body(k), `${k}.txt is byte-exact`);

          again = await ServerProcess.start(dir);
          assert.deepEqual((await listDir(dir)).filter(isTempName), [], 'the restart removes the temporary files');
          assert.equal((await listDir(dir)).length, j, 'and nothing else');
          const next = await RawPeer.connect(again.port);
          await next.write(Buffer.concat([frame(['after the restart']), QUIT]));
          assert.equal(await next.statuses(2), 'AQ');
          next.destroy();
        } finally {
          peer?.destroy();
          await server?.stop();
          await again?.stop();
          await removeDir(dir);
        }
      },
    );
  }
});
