// `linedrop check-client` (ClientChecker): a strict lab server that records what a client sends and
// reports every deviation. Against linedrop's client, the template client (Python), and raw
// clients broken one rule at a time; and through the command line (--once, --json).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { LinedropClient } from '../../src/index.js';
import { ClientChecker, type ClientCheckerOptions, type ClientConnectionReport } from '../../src/check/index.js';
import { HOST, QUIT, RawPeer, ROOT, frame, removeDir, sleep, tempDir } from '../support.js';

const PEER = join(ROOT, 'test/interop/lab_peer.py');

/** A checker on 127.0.0.1, port 0; `use` drives a client against it; resolves to the first connection's report. */
async function withChecker(
  options: ClientCheckerOptions,
  use: (port: number) => Promise<void>,
): Promise<ClientConnectionReport> {
  const checker = new ClientChecker(options);
  const { port } = await checker.listen(0, HOST, { once: true });
  try {
    const report = checker.nextReport();
    await use(port);
    return await report;
  } finally {
    await checker.close();
  }
}

const kinds = (r: ClientConnectionReport): string[] => r.deviations.map((d) => d.kind);

describe('ClientChecker', () => {
  test("linedrop's client: no deviation; files saved; messages and lines recorded with their offsets", async () => {
    const dir = await tempDir();
    try {
      const statuses: string[] = [];
      const report = await withChecker({ dir }, async (port) => {
        const client = await LinedropClient.connect({ host: HOST, port });
        statuses.push(await client.sendLines(['alpha', 'wörld\r', '\tx']));
        statuses.push(await client.sendLines(['second']));
        statuses.push(await client.quit());
        await client.whenClosed();
      });
      assert.deepEqual(statuses, ['A', 'A', 'Q']);
      assert.deepEqual(report.deviations, []);
      assert.equal(report.ok, true);
      assert.equal(report.messages.length, 2);
      const [m1, m2] = report.messages;
      assert.equal(m1!.offset, 0);
      assert.equal(m1!.count, 3);
      assert.equal(m1!.countHex, '00 00 00 03');
      assert.deepEqual(
        m1!.lines.map((l) => [l.offset, l.length, l.text]),
        [
          [4, 6, 'alpha'],
          [10, 8, 'wörld\r'],
          [18, 3, '\tx'],
        ],
      );
      assert.equal(m2!.offset, 21);
      assert.deepEqual(
        m2!.lines.map((l) => l.offset),
        [25],
      );
      assert.deepEqual(report.quit, { offset: 32, status: 'Q' });
      assert.equal(report.bytes, 36);
      assert.deepEqual(await readFile(join(dir, '1.txt')), Buffer.from('alpha\nwörld\r\n\tx\n'));
      assert.deepEqual(await readFile(join(dir, '2.txt')), Buffer.from('second\n'));
      assert.equal(m1!.file, '1.txt');
    } finally {
      await removeDir(dir);
    }
  });

  test('the template client (count as 00 00, 1 s pause, 00 NN): no deviation, the split reads recorded', async () => {
    const report = await withChecker({}, async (port) => {
      const child = spawn('python3', [PEER, 'client', '--host', HOST, '--port', String(port), '--pause', '1'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stdin.end('2\nhello\nwörld\n0\n');
      const [code] = (await once(child, 'close')) as [number];
      assert.equal(code, 0, out);
      assert.match(out, /File accepted\./);
      assert.match(out, /Server closing connection, as expected\./);
    });
    assert.deepEqual(report.deviations, []);
    // The first read is the count's first half alone; the second half comes a second later
    // (possibly in one read with the lines after it).
    assert.deepEqual(
      report.chunks.slice(0, 2).map((c) => c.offset),
      [0, 2],
    );
    assert.equal(report.chunks[0]!.length, 2);
    assert.ok(report.chunks[1]!.ms - report.chunks[0]!.ms >= 900, 'the 1 s pause inside the count is on record');
    assert.deepEqual(
      report.messages[0]!.lines.map((l) => l.text),
      ['hello', 'wörld'],
    );
  });

  test('a count that says 3 followed by 2 lines, then waiting: count-mismatch (found by the quiet period)', async () => {
    let closedWithoutStatus = false;
    const report = await withChecker({ quietMs: 300 }, async (port) => {
      const peer = await RawPeer.connect(port);
      await peer.write(frame(['one', 'two'], 3));
      closedWithoutStatus = (await peer.waitClosed(5000)) && peer.received.length === 0;
    });
    assert.deepEqual(kinds(report), ['count-mismatch']);
    assert.equal(report.deviations[0]!.offset, 0);
    assert.match(report.deviations[0]!.message, /says 3 lines but 2 arrived; the client went silent for 300 ms/);
    assert.equal(report.closedBy, 'checker');
    assert.equal(report.messages[0]!.complete, false);
    assert.equal(closedWithoutStatus, true, 'no status byte for an incomplete message; the checker closes');
  });

  test('lines typed by hand into the template client, seconds apart: no deviation with the defaults', async () => {
    const checker = new ClientChecker({});
    const { port } = await checker.listen(0, HOST, { once: true });
    const waiting: string[] = [];
    checker.on('waiting', ({ text }) => waiting.push(text));
    try {
      const report = checker.nextReport();
      const child = spawn('python3', [PEER, 'client', '--host', HOST, '--port', String(port), '--pause', '0.2'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      // A person: the count, then each line after a pause longer than the 2 s quiet period.
      child.stdin.write('3\n');
      await once(checker, 'opened');
      for (const line of ['typed', 'by', 'hand']) {
        await sleep(3000);
        child.stdin.write(`${line}\n`);
      }
      child.stdin.end('0\n');
      const [code] = (await once(child, 'close')) as [number];
      assert.equal(code, 0, out);
      const r = await report;
      assert.deepEqual(r.deviations, [], JSON.stringify(r.deviations));
      assert.deepEqual(
        r.messages[0]!.lines.map((l) => l.text),
        ['typed', 'by', 'hand'],
      );
      assert.ok(waiting.length >= 2, `the long waits were announced: ${waiting.join(' / ')}`);
      assert.ok(
        waiting.some((w) => /^waiting for line 1 of 3 of message 1: no byte for 2 s \(no line of it yet;/.test(w)),
        waiting.join(' / '),
      );
      assert.ok(
        waiting.some((w) =>
          /^waiting for line 3 of 3 of message 1: no byte for 2 s \(its lines come at the pace of typing;/.test(w),
        ),
        waiting.join(' / '),
      );
    } finally {
      await checker.close();
    }
  });

  test('too few lines at the pace of typing: count-mismatch once the typing wait (typingMs) is over', async () => {
    const report = await withChecker({ quietMs: 300, typingMs: 1500 }, async (port) => {
      const peer = await RawPeer.connect(port);
      await peer.write(Buffer.from([0, 0, 0, 3]));
      await sleep(600);
      await peer.write('one\n');
      await peer.waitClosed(5000);
    });
    assert.deepEqual(kinds(report), ['count-mismatch']);
    assert.match(report.deviations[0]!.message, /says 3 lines but 1 arrived; the client went silent for 1500 ms/);
  });

  test("a last line without its \\n: missing-newline at the line's offset", async () => {
    const simple = await withChecker({ quietMs: 300 }, async (port) => {
      const peer = await RawPeer.connect(port);
      await peer.write(Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('first\nno newline')]));
      await peer.waitClosed(5000);
    });
    assert.deepEqual(kinds(simple), ['missing-newline']);
    assert.equal(simple.deviations[0]!.offset, 10);
    assert.match(
      simple.deviations[0]!.message,
      /line 2 of 2 of message 1 \(offset 10: "no newline"\) is not ended by \\n/,
    );
  });

  test('a line without its \\n, then the quit: missing-newline, with the quit spotted inside the line', async () => {
    const report = await withChecker({ quietMs: 300 }, async (port) => {
      const peer = await RawPeer.connect(port);
      await peer.write(Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from('only line'), QUIT]));
      await peer.waitClosed(5000);
    });
    assert.deepEqual(kinds(report), ['missing-newline']);
    assert.match(report.deviations[0]!.message, /the quit message/);
  });

  test('bytes after the quit: bytes-after-quit, at the offset after the quit', async () => {
    let statuses = '';
    const report = await withChecker({ graceMs: 300 }, async (port) => {
      const peer = await RawPeer.connect(port);
      await peer.write(frame(['x']));
      await peer.statuses(1);
      await peer.write(Buffer.concat([QUIT, Buffer.from('extra')]));
      statuses = await peer.statuses(2);
      await peer.waitClosed(5000);
    });
    assert.equal(statuses, 'AQ');
    assert.deepEqual(kinds(report), ['bytes-after-quit']);
    assert.equal(report.deviations[0]!.offset, 10);
    assert.equal(report.bytesAfterQuit, 5);
    assert.match(
      report.deviations[0]!.message,
      /5 bytes after the quit message \(from offset 10\): \[65 78 74 72 61\] "extra"/,
    );
  });

  test('closing without the quit: no-quit', async () => {
    const report = await withChecker({}, async (port) => {
      const peer = await RawPeer.connect(port);
      await peer.write(frame(['x', 'y']));
      assert.equal(await peer.statuses(1), 'A');
      peer.socket.end();
      await peer.waitClosed(5000);
    });
    assert.deepEqual(kinds(report), ['no-quit']);
    assert.match(report.deviations[0]!.message, /after 1 message without sending the quit message/);
    assert.equal(report.messages[0]!.complete, true);
  });

  test('more lines than the count: the extra line read as a count is an implausible-count', async () => {
    const report = await withChecker({}, async (port) => {
      const peer = await RawPeer.connect(port);
      await peer.write(Buffer.concat([frame(['one']), Buffer.from('two!\n'), QUIT]));
      await peer.waitClosed(5000);
    });
    assert.deepEqual(kinds(report), ['implausible-count']);
    assert.equal(report.deviations[0]!.offset, 8);
    assert.match(report.deviations[0]!.message, /"two!".*message 1 probably had more lines than its count of 1 said/);
  });
});

describe('linedrop check-client on the command line', () => {
  function streams(): {
    io: { stdin: Readable; stdout: PassThrough; stderr: PassThrough };
    lines: () => string[];
    firstLine: Promise<string>;
  } {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stderr.resume();
    let out = '';
    let resolveFirst: (line: string) => void;
    const firstLine = new Promise<string>((resolve) => (resolveFirst = resolve));
    stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl !== -1) resolveFirst(out.slice(0, nl));
    });
    return {
      io: { stdin: Readable.from([]), stdout, stderr },
      lines: () => out.split('\n').filter(Boolean),
      firstLine,
    };
  }

  test('--once --json: a listening line with the port, one connection object; exit status 0 for a good client', async () => {
    const t = streams();
    const done = main(['check-client', '--host', HOST, '--port', '0', '--once', '--json'], t.io);
    const listening = JSON.parse(await t.firstLine) as { type: string; port: number };
    assert.equal(listening.type, 'listening');
    const client = await LinedropClient.connect({ host: HOST, port: listening.port });
    assert.equal(await client.sendLines(['hello']), 'A');
    assert.equal(await client.quit(), 'Q');
    assert.equal(await done, 0);
    const lines = t.lines();
    assert.equal(lines.length, 2);
    const report = JSON.parse(lines[1]!) as ClientConnectionReport & { type: string };
    assert.equal(report.type, 'connection');
    assert.equal(report.ok, true);
    assert.deepEqual(report.deviations, []);
    assert.equal(report.messages[0]!.lines[0]!.text, 'hello');
  });

  test('--once, text report: "listening on 127.0.0.1:PORT" first; a deviation gives exit status 1', async () => {
    const t = streams();
    const done = main(['check-client', '--host', HOST, '--port', '0', '--once'], t.io);
    const first = await t.firstLine;
    const m = /^listening on 127\.0\.0\.1:(\d+)$/.exec(first);
    assert.ok(m, first);
    const peer = await RawPeer.connect(Number(m[1]));
    await peer.write(frame(['x']));
    await peer.statuses(1);
    peer.socket.end();
    assert.equal(await done, 1);
    const text = t.lines().join('\n');
    assert.match(text, /connection 1 from 127\.0\.0\.1:\d+: 1 message, no quit, 1 deviation/);
    assert.match(text, /message 1 at offset 0: count \[00 00 00 01\] = 1 line/);
    assert.match(text, /DEVIATION no-quit at offset 6/);
  });
});
