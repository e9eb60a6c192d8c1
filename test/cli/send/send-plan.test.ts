// `linedrop send` reads each small file once, while it plans, and sends those very bytes; larger
// files (and the small ones past the budget of held bytes) are counted, then read again to be sent,
// and one that changed in between fails with LINEDROP_ERR_FILE_CHANGED before its message is complete; one
// gone or unreadable by then is reported on its own, and the files after it are still sent.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { sendFiles, type SendCommandOptions } from '../../../src/cli/send/send.js';
import { HOST, listDir, withServer, withTempDir } from '../../support.js';

/**
 * A proxy in front of a server that holds each connection unread until `beforeForwarding` has
 * run: what the client planned is then changed on disk before the server sees a byte.
 */
class Gate {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: number, beforeForwarding: () => Promise<void>): Promise<Gate> {
    const server = createServer({ pauseOnConnect: true });
    server.listen(0, HOST);
    await once(server, 'listening');
    const gate = new Gate(server, (server.address() as { port: number }).port);
    server.on('connection', (client: Socket) => {
      const upstream = connect({ host: HOST, port: target });
      for (const socket of [client, upstream]) {
        gate.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      void beforeForwarding().then(() => {
        client.pipe(upstream);
        upstream.pipe(client);
      });
    });
    return gate;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    await once(this.server, 'close');
  }
}

/** Collects what is written to it. */
class Sink extends PassThrough {
  text = '';
  constructor() {
    super();
    this.on('data', (chunk: Buffer) => (this.text += chunk.toString()));
  }
}

function run(
  port: number,
  files: string[],
  extra: Partial<SendCommandOptions> = {},
): { code: Promise<number>; out: Sink; err: Sink } {
  const out = new Sink();
  const err = new Sink();
  const code = sendFiles({ host: HOST, port, files, stdin: new PassThrough(), out, err, ...extra });
  return { code, out, err };
}

/** Lines of every kind: empty, with \r, UTF-8, long; a final newline or not. */
function text(lines: number, seed: number, finalNewline: boolean): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < lines; i++) {
    parts.push(i % 7 === 3 ? '' : `${seed}.${i} ${'héllo\t'.repeat((i * seed) % 9)}${i % 5 === 0 ? '\r' : ''}`);
  }
  const body = parts.join('\n');
  return Buffer.from(finalNewline ? `${body}\n` : body);
}

const withNewline = (body: Buffer): Buffer =>
  body[body.length - 1] === 0x0a ? body : Buffer.concat([body, Buffer.from('\n')]);

describe('send: each file read once while planning, or counted then streamed', () => {
  test(
    'small files of every shape, some past the held budget, one at 1 MiB and one just past it: ' +
      'every one stored byte for byte',
    async (t) => {
      const s = await withServer(t);
      const dir = await withTempDir(t);
      const bodies: Buffer[] = [];
      for (let i = 0; i < 40; i++) bodies.push(text(1 + ((i * 13) % 60), i + 1, i % 3 !== 0));
      const atLimit = Buffer.alloc(1024 * 1024, 'twelve bytes\n');
      atLimit[atLimit.length - 1] = 0x0a;
      bodies.push(atLimit, Buffer.concat([atLimit, Buffer.from('one more line')]));
      const files: string[] = [];
      for (const [i, body] of bodies.entries()) {
        files.push(join(dir, `f${i}.txt`));
        await writeFile(files[i]!, body);
      }
      // A budget that holds about half of the small files: the rest take the streamed path.
      const { code, err, out } = run(s.port, files, { holdBytes: 20_000, maxInFlight: 4 });
      assert.equal(await code, 0, err.text);
      assert.equal(out.text.match(/accepted as/g)?.length, bodies.length);
      for (const [i, body] of bodies.entries()) {
        assert.deepEqual(await readFile(join(s.dir, `${i + 1}.txt`)), withNewline(body), `file ${i}`);
      }
    },
  );

  test('a small file changed after planning: the bytes counted are the bytes sent', async (t) => {
    const s = await withServer(t);
    const dir = await withTempDir(t);
    const path = join(dir, 'small.txt');
    const before = text(50, 7, true);
    await writeFile(path, before);
    const gate = await Gate.start(s.port, () => writeFile(path, text(80, 9, false)));
    t.after(() => gate.close());
    const { code, err, out } = run(gate.port, [path]);
    assert.equal(await code, 0, err.text);
    assert.match(out.text, /small\.txt: accepted as 1\.txt \(50 lines, /);
    assert.deepEqual(await readFile(join(s.dir, '1.txt')), before);
  });

  for (const [what, size, extra] of [
    ['a file past 1 MiB', 3 * 1024 * 1024, {}],
    ['a small file past the held budget', 24 * 1024, { holdBytes: 1024 }],
  ] as const) {
    test(
      `${what} that grows after planning: LINEDROP_ERR_FILE_CHANGED before its message is ` +
        `complete, exit 1, nothing stored for it`,
      async (t) => {
        const s = await withServer(t);
        const dir = await withTempDir(t);
        const first = join(dir, 'first.txt');
        const grown = join(dir, 'grown.txt');
        await writeFile(first, text(20, 3, true));
        // Sixteen-byte lines: the file ends with its newline.
        await writeFile(grown, Buffer.alloc(size, 'a line of 16 b.\n'));
        // One file at a time: the grown file is read to be sent only once the first is answered, after the gate opened.
        const gate = await Gate.start(s.port, () => appendFile(grown, 'one line more\n'));
        t.after(() => gate.close());
        const { code, err } = run(gate.port, [first, grown], { ...extra, maxInFlight: 1 });
        assert.equal(await code, 1, err.text);
        assert.match(
          err.text,
          /grown\.txt: .*grown\.txt changed before it was sent \(\d+ bytes when measured, \d+ now\); nothing of it was sent; the connection is still open\n/,
        );
        await s.server.idle();
        assert.deepEqual(await listDir(s.dir), ['1.txt']);
      },
    );
  }

  for (const [what, breakIt, reason] of [
    ['deleted', (path: string) => rm(path), 'it does not exist'],
    [
      'replaced by a folder',
      async (path: string) => {
        await rm(path);
        await mkdir(path);
      },
      'it is a folder',
    ],
  ] as const) {
    test(
      `a file ${what} after planning: reported on its own with the reason, the files queued ` +
        `behind it stored in order under the next numbers, exit 1`,
      async (t) => {
        const s = await withServer(t);
        const dir = await withTempDir(t);
        const names = ['a.txt', 'b.txt', 'gone.txt', 'c.txt', 'd.txt'];
        const bodies = [
          text(5, 1, true),
          text(7, 2, false),
          Buffer.alloc(1536 * 1024, 'past the size held in memory\n'),
          text(3, 4, true),
          text(9, 5, true),
        ];
        const paths = names.map((name) => join(dir, name));
        for (const [i, path] of paths.entries()) await writeFile(path, bodies[i]!);
        // Two files in flight: the third (streamed, past 1 MiB) is opened only once the first is
        // answered, after the gate has broken it; the two after it are queued behind it.
        const gate = await Gate.start(s.port, () => breakIt(paths[2]!));
        t.after(() => gate.close());
        const { code, out, err } = run(gate.port, paths, { maxInFlight: 2 });
        assert.equal(await code, 1, err.text);
        const gone = paths[2]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
        assert.match(
          err.text,
          new RegExp(
            `^linedrop: ${gone}: cannot read ${gone}: ${reason}; ` +
              `nothing of it was sent; the connection is still open\n$`,
          ),
        );
        assert.match(
          out.text,
          /a\.txt: accepted as 1\.txt .*\n.*b\.txt: accepted as 2\.txt .*\n.*c\.txt: accepted as 3\.txt .*\n.*d\.txt: accepted as 4\.txt .*\n4 of 5 files accepted, /,
        );
        await s.server.idle();
        assert.deepEqual(await listDir(s.dir), ['1.txt', '2.txt', '3.txt', '4.txt']);
        for (const [n, i] of [
          [1, 0],
          [2, 1],
          [3, 3],
          [4, 4],
        ] as const) {
          assert.deepEqual(
            await readFile(join(s.dir, `${n}.txt`)),
            withNewline(bodies[i]!),
            `${names[i]} stored as ${n}.txt byte for byte`,
          );
        }
      },
    );
  }
});
