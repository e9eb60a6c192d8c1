// One client connection's session (src/check/client-session.ts), fed each stream whole, cut in two
// at every position, and one byte at a time, over a real socket: the report (messages, lines and
// their offsets, deviations and where they start, who ended the connection), the status bytes sent
// back and the files saved are the same however the client's bytes fall into reads.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ClientConnectionReport } from '../../src/check/client-report.js';
import { Session } from '../../src/check/client-session.js';
import { HOST, QUIT, frame, removeDir, tempDir } from '../support.js';

/** What a run gave: the report without what depends on the reads (remote, times, the reads themselves). */
interface Outcome {
  report: Omit<ClientConnectionReport, 'remote' | 'startedAt' | 'ms' | 'chunks' | 'chunksOmitted'>;
  /** Where the session's reads started in the stream. */
  readsAt: number[];
  /** The bytes the session answered, as text. */
  statuses: string;
  /** The files saved, name to content. */
  files: Record<string, string>;
}

/**
 * Sends `bytes` to a session in pieces ending at `cuts`: each piece is written only once the session's
 * socket has read everything before it, so every cut is a boundary between two reads. Then the client
 * closes its side (the session has timers long enough never to fire here).
 */
async function feed(bytes: Buffer, cuts: number[]): Promise<Outcome> {
  const dir = await tempDir();
  const server = createServer({ allowHalfOpen: true, noDelay: true });
  try {
    server.listen(0, HOST);
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const client = connect({ host: HOST, port, allowHalfOpen: true });
    client.on('error', () => undefined);
    let statuses = '';
    client.on('data', (c: Buffer) => (statuses += c.toString('latin1')));
    const answered = once(client, 'end');
    await once(client, 'connect');
    client.setNoDelay(true);
    const [socket] = await accepted;
    const session = new Session(socket, 1, { dir, quietMs: 60_000, typingMs: 60_000, graceMs: 60_000 });
    let read = 0;
    let wake = (): void => undefined;
    socket.on('data', (c: Buffer) => {
      read += c.length;
      wake();
    });
    let from = 0;
    for (const to of [...cuts, bytes.length]) {
      client.write(bytes.subarray(from, to));
      if (to < bytes.length) {
        while (read < to) await new Promise<void>((resolve) => (wake = resolve));
      }
      from = to;
    }
    client.end();
    const { remote, startedAt, ms, chunks, chunksOmitted, ...report } = await session.done;
    await answered;
    client.destroy();
    const files: Record<string, string> = {};
    for (const name of (await readdir(dir)).sort()) files[name] = (await readFile(join(dir, name))).toString('latin1');
    return { report, readsAt: chunks.map((c) => c.offset), statuses, files };
  } finally {
    server.close();
    await removeDir(dir);
  }
}

const count = (n: number): Buffer => frame([], n);

/** The streams: what a client sends, and what the whole stream, read at once, must give. */
const STREAMS: { name: string; bytes: Buffer; deviations: [string, number][]; statuses: string; end: string }[] = [
  {
    name: 'two messages and the quit',
    bytes: Buffer.concat([frame(['alpha', 'wörld\r', '']), frame(['x']), QUIT]),
    deviations: [],
    statuses: 'AAQ',
    end: 'the client closed the connection after Q',
  },
  {
    name: 'a count of 3, then 2 lines',
    bytes: frame(['one', 'two'], 3),
    deviations: [['count-mismatch', 0]],
    statuses: '',
    end: 'the client closed the connection',
  },
  {
    name: 'a count of 3, then 1 line and part of another',
    bytes: Buffer.concat([frame(['one'], 3), Buffer.from('tw')]),
    deviations: [['count-mismatch', 0]],
    statuses: '',
    end: 'the client closed the connection',
  },
  {
    name: 'a last line without its \\n',
    bytes: Buffer.concat([count(2), Buffer.from('first\nno newline')]),
    deviations: [['missing-newline', 10]],
    statuses: '',
    end: 'the client closed the connection',
  },
  {
    name: 'a line without its \\n, then the quit',
    bytes: Buffer.concat([count(1), Buffer.from('only line'), QUIT]),
    deviations: [['missing-newline', 4]],
    statuses: '',
    end: 'the client closed the connection',
  },
  {
    name: 'a message, then half a count',
    bytes: Buffer.concat([frame(['x']), Buffer.from([0, 0])]),
    deviations: [['partial-count', 6]],
    statuses: 'A',
    end: 'the client closed the connection',
  },
  {
    name: 'bytes after the quit',
    bytes: Buffer.concat([frame(['x']), QUIT, Buffer.from('extra')]),
    deviations: [['bytes-after-quit', 10]],
    statuses: 'AQ',
    end: 'the client closed the connection after Q',
  },
  {
    name: 'a message, then no quit',
    bytes: frame(['x', 'y']),
    deviations: [['no-quit', 8]],
    statuses: 'A',
    end: 'the client closed the connection',
  },
  {
    name: 'a line more than the count, read as a count',
    bytes: Buffer.concat([frame(['one']), Buffer.from('two!')]),
    deviations: [['implausible-count', 8]],
    statuses: 'A',
    end: 'the checker closed the connection after the implausible count',
  },
];

describe('a client session, fed the same bytes in reads of every size', () => {
  for (const stream of STREAMS) {
    test(`${stream.name}: the same report whole, cut at every position, and byte by byte`, async () => {
      const whole = await feed(stream.bytes, []);
      assert.deepEqual(
        whole.report.deviations.map((d) => [d.kind, d.offset]),
        stream.deviations,
        JSON.stringify(whole.report.deviations),
      );
      assert.equal(whole.report.ok, stream.deviations.length === 0);
      assert.equal(whole.report.bytes, stream.bytes.length);
      assert.equal(whole.statuses, stream.statuses);
      assert.equal(whole.report.end, stream.end);
      const positions = Array.from({ length: stream.bytes.length - 1 }, (_, i) => i + 1);
      for (const cuts of [...positions.map((at) => [at]), positions]) {
        const outcome = await feed(stream.bytes, cuts);
        const where = `cut at ${cuts.length === 1 ? cuts[0] : 'every byte'}`;
        for (const at of cuts)
          assert.ok(
            outcome.readsAt.includes(at),
            `${where}: a read starts at ${at} (reads at ${outcome.readsAt.join(', ')})`,
          );
        assert.deepEqual(outcome.report, whole.report, where);
        assert.equal(outcome.statuses, whole.statuses, where);
        assert.deepEqual(outcome.files, whole.files, where);
      }
    });
  }

  test('the lines and files of the good stream, with their offsets', async () => {
    const { report, files } = await feed(STREAMS[0]!.bytes, []);
    assert.deepEqual(
      report.messages.map((m) => m.lines.map((l) => [l.offset, l.length, l.text])),
      [
        [
          [4, 6, 'alpha'],
          [10, 8, 'wörld\r'],
          [18, 1, ''],
        ],
        [[23, 2, 'x']],
      ],
    );
    assert.deepEqual(report.quit, { offset: 25, status: 'Q' });
    assert.deepEqual(files, { '1.txt': Buffer.from('alpha\nwörld\r\n\n').toString('latin1'), '2.txt': 'x\n' });
  });
});
