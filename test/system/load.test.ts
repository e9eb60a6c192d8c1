// Load over real sockets: 500 concurrent clients, 20 files each. (The idle timeout and the
// connection caps are tested in test/server/limits.test.ts.)
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LinedropClient } from '../../src/index.js';
import { HOST, listDir, record, runServer, tempFiles, until } from '../support.js';

const fileText = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');

// ---------------------------------------------------------------------------------------------

const CLIENTS = 500;
const FILES = 20;

/** File `f` (1-based) of client `c`: its content names both, so a misplaced or mixed file shows. */
function linesOf(c: number, f: number): string[] {
  const n = 1 + ((c * 7 + f * 3) % 9);
  const lines = Array.from({ length: n }, (_, i) => `client ${c} file ${f} line ${i}`);
  if ((c + f) % 4 === 0) lines.push(`client ${c} file ${f} ${'x'.repeat(200 + c)}`);
  return lines;
}

describe('load', () => {
  test(`${CLIENTS} concurrent clients, ${FILES} files each, session layout: every file exactly once, byte-exact`, {
    timeout: 180_000,
  }, async () => {
    const s = await runServer({
      layout: 'session',
      maxConnections: CLIENTS + 100,
      maxConnectionsPerAddress: CLIENTS + 100,
    });
    const { closed, refused } = record(s);
    let fileEvents = 0;
    s.server.on('file', () => fileEvents++);
    try {
      const started = performance.now();
      // Every client connects before any sends, so all of them are open at once.
      const clients = await Promise.all(
        Array.from({ length: CLIENTS }, () =>
          LinedropClient.connect({ host: HOST, port: s.port, connectTimeoutMs: 30_000 }),
        ),
      );
      const connected = performance.now();
      assert.ok(
        await until(() => s.server.connections === CLIENTS, 10_000),
        `${s.server.connections} connections open, not ${CLIENTS}`,
      );
      const results = await Promise.all(
        clients.map(async (client, c) => {
          // Pipelined: all twenty messages go out before the first answer is read.
          const statuses = await Promise.all(
            Array.from({ length: FILES }, (_, f) => client.sendLines(linesOf(c, f + 1))),
          );
          const last = await client.quit();
          return statuses.join('') + last;
        }),
      );
      const ms = performance.now() - started;
      const files = CLIENTS * FILES;
      console.log(
        `load: ${CLIENTS} clients x ${FILES} files = ${files} files in ${(ms / 1000).toFixed(1)} s ` +
          `(connecting ${Math.round(connected - started)} ms): ${Math.round(files / (ms / 1000))} files/s`,
      );

      const expected = 'A'.repeat(FILES) + 'Q';
      results.forEach((r, c) => assert.equal(r, expected, `client ${c} got ${r}`));
      assert.ok(await until(() => closed.length === CLIENTS, 10_000));
      assert.deepEqual(refused, []);
      assert.ok(
        closed.every((x) => x.reason === 'quit' && x.files === FILES),
        'a connection did not end with its 20 files and a quit',
      );
      assert.equal(fileEvents, files);

      // On disk: one folder per client, each 1.txt .. 20.txt, each byte-exact, nothing else.
      const folders = await readdir(s.dir);
      assert.equal(folders.length, CLIENTS, `${folders.length} session folders`);
      const wantNames = Array.from({ length: FILES }, (_, f) => `${f + 1}.txt`).sort();
      const owner = new Map<number, string>();
      for (const folder of folders) {
        const names = await listDir(join(s.dir, folder));
        assert.deepEqual(names, wantNames, `folder ${folder}`);
        const first = await readFile(join(s.dir, folder, '1.txt'), 'utf8');
        const m = /^client (\d+) file 1 line 0\n/.exec(first);
        assert.ok(
          m,
          `${folder}/1.txt does not start with a client's first line: ${JSON.stringify(first.slice(0, 60))}`,
        );
        const c = Number(m[1]);
        assert.ok(!owner.has(c), `client ${c} has two folders: ${owner.get(c)} and ${folder}`);
        owner.set(c, folder);
        for (let f = 1; f <= FILES; f++) {
          assert.equal(
            await readFile(join(s.dir, folder, `${f}.txt`), 'utf8'),
            fileText(linesOf(c, f)),
            `${folder}/${f}.txt`,
          );
        }
      }
      assert.equal(owner.size, CLIENTS);
      for (let c = 0; c < CLIENTS; c++) assert.ok(owner.has(c), `client ${c}'s files are missing`);
      assert.deepEqual(await tempFiles(s.dir), []);
    } finally {
      await s.close();
    }
  });
});
