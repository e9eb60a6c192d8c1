// `linedrop check` (checkServer): against linedrop's own server, against small servers broken one
// rule at a time, against the one-connection Python lab server (with and without --restart-cmd),
// and through the command line's --json.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFile, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { startServer } from '../../src/index.js';
import { checkServer, SERVER_CHECKS, type CheckReport, type CheckServerOptions } from '../../src/check/index.js';
import { HOST, ROOT, freePort, removeDir, tempDir } from '../support.js';

const PEER = join(ROOT, 'test/interop/lab_peer.py');
const REQUIRED = SERVER_CHECKS.filter((c) => c.required).map((c) => c.name);
const OPTIONAL = SERVER_CHECKS.filter((c) => !c.required).map((c) => c.name);

function statusOf(report: CheckReport, name: string): string {
  const check = report.checks.find((c) => c.name === name);
  assert.ok(check, `the report has the check ${name}`);
  return check.status;
}

/** Asserts each named check's status; `rest` is the status every other check run must have. */
function expectStatuses(
  report: CheckReport,
  want: Record<string, string>,
  rest: string,
  names: readonly string[],
): void {
  const seen: Record<string, string> = {};
  const expected: Record<string, string> = {};
  for (const name of names) {
    seen[name] = statusOf(report, name);
    expected[name] = want[name] ?? rest;
  }
  const details = report.checks
    .filter((c) => c.status !== expected[c.name])
    .map((c) => `${c.name}: ${c.status}: seen ${c.seen}`)
    .join('\n');
  assert.deepEqual(seen, expected, details);
}

/** The port the Python lab server prints (`LISTENING <port>`; print() may write it in pieces). */
function listeningPort(stdout: Readable): Promise<number> {
  // Keep reading what it prints afterwards: a closed pipe would kill it at its next print().
  return new Promise((resolve, reject) => {
    let text = '';
    stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const m = /LISTENING (\d+)\n/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    stdout.on('end', () => reject(new Error(`the lab server did not print its port: ${text}`)));
  });
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

interface Faults {
  /** The byte sent for an accepted file (the right one is 'A'). */
  status?: string;
  /** Keep the connection open after Q. */
  noClose?: boolean;
  /** Append to k.txt instead of replacing it. */
  append?: boolean;
  /** Read a count from the first chunk alone (a short chunk is taken as the whole count). */
  firstChunkCount?: boolean;
  /** Number files across connections instead of from 1 in each. */
  globalNumbering?: boolean;
  /** Save "\r\n" as "\n". */
  crlf?: boolean;
}

/** A lab server (many connections, flat k.txt) written plainly, with the given faults. */
async function brokenServer(dir: string, faults: Faults): Promise<{ port: number; close(): Promise<void> }> {
  let global = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let k = 0;
    let done = false;
    let queue = Promise.resolve();
    const handle = async (input: Buffer): Promise<void> => {
      if (done) return;
      let chunk = input;
      if (faults.firstChunkCount && buf.length === 0 && chunk.length < 4)
        chunk = Buffer.concat([Buffer.alloc(4 - chunk.length), chunk]);
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4) {
        const n = buf.readUInt32BE(0);
        let pos = 4;
        const lines: Buffer[] = [];
        while (lines.length < n) {
          const nl = buf.indexOf(0x0a, pos);
          if (nl === -1) break;
          lines.push(buf.subarray(pos, nl + 1));
          pos = nl + 1;
        }
        if (lines.length < n) return;
        buf = buf.subarray(pos);
        if (n === 0) {
          done = true;
          socket.write('Q');
          if (!faults.noClose) socket.end();
          return;
        }
        k++;
        global++;
        let content = Buffer.concat(lines);
        if (faults.crlf) content = Buffer.from(content.toString('latin1').replaceAll('\r\n', '\n'), 'latin1');
        const path = join(dir, `${faults.globalNumbering ? global : k}.txt`);
        await (faults.append ? appendFile(path, content) : writeFile(path, content));
        socket.write(faults.status ?? 'A');
      }
    };
    socket.on('data', (chunk: Buffer) => {
      queue = queue.then(() => handle(chunk));
    });
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Runs the required checks (quick) against a server broken as told, with its folder. */
async function checkBroken(faults: Faults, options: Partial<CheckServerOptions> = {}): Promise<CheckReport> {
  const dir = await tempDir();
  const server = await brokenServer(dir, faults);
  try {
    return await checkServer({ host: HOST, port: server.port, dir, quick: true, timeoutMs: 800, ...options });
  } finally {
    await server.close();
    await removeDir(dir);
  }
}

describe('checkServer against linedrop and broken servers', () => {
  test("linedrop's own server passes every check, required and optional", async () => {
    const dir = await tempDir();
    const server = await startServer({ port: 0, host: HOST, dir });
    try {
      const seen: string[] = [];
      const report = await checkServer({
        host: HOST,
        port: server.address().port,
        dir,
        onResult: (r) => seen.push(r.name),
      });
      expectStatuses(report, {}, 'pass', [...REQUIRED, ...OPTIONAL]);
      assert.deepEqual(
        seen,
        SERVER_CHECKS.map((c) => c.name),
        'each check is reported as it ends, in order',
      );
      assert.equal(report.summary.exitCode, 0);
      assert.deepEqual(report.summary.required, { passed: REQUIRED.length, failed: 0, skipped: 0, notApplicable: 0 });
      assert.equal(report.summary.firstFailure, null);
      assert.deepEqual(report.summary.needRestart, []);
      const timing = report.checks.find((c) => c.name === 'template-timing')!;
      assert.match(timing.sent, /^\[00 00\], a 1000 ms pause, \[00 02\]/);
      assert.ok(timing.ms >= 2000, 'the real template timing: two 1 s pauses');
    } finally {
      await server.close();
      await removeDir(dir);
    }
  });

  test('every check records its conversation: connections, the bytes both ways, closes, in time order', async () => {
    const dir = await tempDir();
    const server = await startServer({ port: 0, host: HOST, dir });
    try {
      const report = await checkServer({
        host: HOST,
        port: server.address().port,
        dir,
        only: ['accept', 'template-timing'],
        pauseMs: 150,
      });
      const accept = report.checks.find((c) => c.name === 'accept')!;
      assert.deepEqual(
        accept.conversation.map((e) => e.kind),
        ['connect', 'sent', 'received', 'sent', 'received', 'closed', 'closed'],
        JSON.stringify(accept.conversation),
      );
      assert.deepEqual(
        accept.conversation.slice(-2).map((e) => e.text),
        [
          'the server closed the connection',
          'the checker closed its side with a reset (the ' + "server's port is left free, not in TIME_WAIT)",
        ],
      );
      const [, message, a, quitSent, q] = accept.conversation;
      assert.match(message!.hex!, /^00000002/);
      assert.ok(Buffer.from(message!.hex!, 'hex').toString().includes('accept 1/2'));
      assert.equal(a!.hex, '41');
      assert.equal(quitSent!.hex, '00000000');
      assert.equal(q!.hex, '51');
      assert.ok(accept.conversation.every((e) => e.conn === 1));
      const ats = accept.conversation.map((e) => e.at);
      assert.deepEqual(
        ats,
        [...ats].sort((x, y) => x - y),
        'in time order',
      );
      // The template's pause shows on the timeline: [00 00], then [00 02] about 150 ms later.
      const timing = report.checks.find((c) => c.name === 'template-timing')!;
      const sends = timing.conversation.filter((e) => e.kind === 'sent');
      assert.equal(sends[0]!.hex, '0000');
      assert.equal(sends[1]!.hex, '0002');
      assert.ok(sends[1]!.at - sends[0]!.at >= 140, `the pause is on the timeline (${sends[1]!.at - sends[0]!.at} ms)`);
      const skipped = report.checks.find((c) => c.name === 'quit')!;
      assert.deepEqual(skipped.conversation, [], 'a check that did not run has no conversation');
    } finally {
      await server.close();
      await removeDir(dir);
    }
  });

  test('without --dir the folder checks are skipped, and the wire checks still pass', async () => {
    const dir = await tempDir();
    const server = await startServer({ port: 0, host: HOST, dir });
    try {
      const report = await checkServer({ host: HOST, port: server.address().port, quick: true });
      const folderChecks = SERVER_CHECKS.filter((c) => c.needsDir).map((c) => c.name);
      expectStatuses(
        report,
        // `port` sends nothing of its own: --quick keeps it.
        Object.fromEntries([...folderChecks, ...OPTIONAL.filter((n) => n !== 'port')].map((n) => [n, 'skip'])),
        'pass',
        SERVER_CHECKS.map((c) => c.name),
      );
      assert.equal(report.checks.find((c) => c.name === 'numbering')!.skipReason, 'needs-dir');
      assert.equal(report.checks.find((c) => c.name === 'concurrent-clients')!.skipReason, 'quick');
      assert.equal(report.summary.exitCode, 0);
    } finally {
      await server.close();
      await removeDir(dir);
    }
  });

  test('the plain test server without faults passes every required check (the baseline of the broken ones)', async () => {
    const report = await checkBroken({});
    expectStatuses(report, {}, 'pass', REQUIRED);
  });

  test('a wrong status byte fails accept (and every check that waits for A), not the quit or folder checks', async () => {
    const report = await checkBroken({ status: 'a' });
    expectStatuses(
      report,
      {
        accept: 'fail',
        'template-timing': 'fail',
        'one-write': 'fail',
        'byte-at-a-time': 'fail',
        content: 'fail',
        'stored-before-answer': 'skip',
      },
      'pass',
      REQUIRED,
    );
    const accept = report.checks.find((c) => c.name === 'accept')!;
    assert.match(accept.seen, /^a after the message/);
    assert.equal(accept.causedBy, undefined, 'accept is the failure to fix');
    for (const name of ['template-timing', 'one-write', 'byte-at-a-time', 'content']) {
      assert.equal(report.checks.find((c) => c.name === name)!.causedBy, 'accept', `${name} follows from accept`);
    }
    assert.equal(report.summary.firstFailure, 'accept');
    assert.equal(report.summary.exitCode, 1);
  });

  test('no close after Q fails exactly close-after-quit', async () => {
    const report = await checkBroken({ noClose: true });
    expectStatuses(report, { 'close-after-quit': 'fail' }, 'pass', REQUIRED);
    assert.match(
      report.checks.find((c) => c.name === 'close-after-quit')!.seen,
      /^Q, the connection still open after 800 ms/,
    );
  });

  test('appending instead of overwriting fails exactly overwrite', async () => {
    const report = await checkBroken({ append: true });
    expectStatuses(report, { overwrite: 'fail' }, 'pass', REQUIRED);
    assert.match(report.checks.find((c) => c.name === 'overwrite')!.seen, /appended/);
  });

  test('a count read from the first chunk alone fails the split-count checks (template timing, byte at a time)', async () => {
    const report = await checkBroken({ firstChunkCount: true });
    expectStatuses(report, { 'template-timing': 'fail', 'byte-at-a-time': 'fail' }, 'pass', REQUIRED);
    assert.match(
      report.checks.find((c) => c.name === 'template-timing')!.seen,
      /^Q, then the server closed the connection/,
    );
  });

  test('numbering that does not restart per connection fails exactly numbering-restarts (overwrite is not judged)', async () => {
    const report = await checkBroken({ globalNumbering: true });
    expectStatuses(report, { 'numbering-restarts': 'fail', overwrite: 'skip' }, 'pass', REQUIRED);
    assert.match(report.checks.find((c) => c.name === 'numbering-restarts')!.seen, /saved as 4\.txt, not 1\.txt/);
    assert.equal(report.checks.find((c) => c.name === 'overwrite')!.skipReason, 'not-judged');
  });

  test('changing \\r\\n to \\n fails exactly content', async () => {
    const report = await checkBroken({ crlf: true });
    expectStatuses(report, { content: 'fail' }, 'pass', REQUIRED);
    assert.match(
      report.checks.find((c) => c.name === 'content')!.seen,
      /differs: first difference at byte \d+: expected 0d/,
    );
  });

  test('a server that never answers: every wire check fails within its timeout, nothing hangs', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.resume();
    });
    server.listen(0, HOST);
    await once(server, 'listening');
    try {
      const started = Date.now();
      const report = await checkServer({
        host: HOST,
        port: (server.address() as AddressInfo).port,
        quick: true,
        timeoutMs: 300,
      });
      const wire = REQUIRED.filter((n) => !SERVER_CHECKS.find((c) => c.name === n)!.needsDir);
      expectStatuses(report, {}, 'fail', wire);
      assert.match(report.checks.find((c) => c.name === 'quit')!.seen, /^no byte within 300 ms/);
      assert.ok(Date.now() - started < 15_000);
      assert.equal(report.summary.exitCode, 1);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  test('nothing listening: exit status 3, every check not run', async () => {
    const port = await freePort();
    const report = await checkServer({ host: HOST, port, quick: true });
    assert.equal(report.summary.exitCode, 3);
    assert.equal(report.summary.reachable, false);
    assert.match(report.error ?? '', /ECONNREFUSED/);
    assert.ok(report.checks.every((c) => c.status === 'skip'));
    assert.equal(report.checks.find((c) => c.name === 'accept')!.skipReason, 'unreachable');
  });
});

describe('checkServer against the one-connection lab server (Python)', () => {
  test('without --restart-cmd: the first check passes, the report says which checks need a restart', async () => {
    const dir = await tempDir();
    const child = spawn('python3', [PEER, 'server', '--host', HOST, '--port', '0', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const port = await listeningPort(child.stdout);
      assert.ok(port > 0);
      const report = await checkServer({ host: HOST, port, dir, quick: true, timeoutMs: 1500 });
      const rest = REQUIRED.filter((n) => n !== 'numbering');
      expectStatuses(report, { numbering: 'pass' }, 'skip', REQUIRED);
      assert.deepEqual(report.summary.needRestart, rest);
      assert.equal(report.summary.serverGoneAfter, 'numbering');
      assert.equal(report.summary.exitCode, 1);
      for (const name of rest)
        assert.equal(
          report.checks.find((c) => c.name === name)!.seen,
          'not run (server not reachable; needs a restart)',
        );
    } finally {
      child.kill();
      await removeDir(dir);
    }
  });

  test(
    'with --restart-cmd: every required check passes (the real 1 s template timing), and the ' +
      'server is stopped at the end',
    async () => {
      const dir = await tempDir();
      const port = await freePort();
      try {
        const restartCmd = `exec python3 '${PEER}' server --host ${HOST} --port ${port} --dir '${dir}'`;
        const report = await checkServer({ host: HOST, port, dir, restartCmd, only: REQUIRED, timeoutMs: 2000 });
        expectStatuses(report, {}, 'pass', REQUIRED);
        assert.equal(report.summary.exitCode, 0);
        assert.ok(report.summary.restarts >= REQUIRED.length, `restarted for each check (${report.summary.restarts})`);
        assert.equal(await refused(port), true, 'the restarted server was stopped at the end');
      } finally {
        await removeDir(dir);
      }
    },
  );
});

describe('linedrop check on the command line', () => {
  function io(): { io: { stdin: Readable; stdout: PassThrough; stderr: PassThrough }; out(): string; err(): string } {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    return { io: { stdin: Readable.from([]), stdout, stderr }, out: () => out, err: () => err };
  }

  test('--json prints one object with every check and a summary; exit status 0', async () => {
    const dir = await tempDir();
    const server = await startServer({ port: 0, host: HOST, dir });
    try {
      const t = io();
      const code = await main(['check', `${HOST}:${server.address().port}`, '--dir', dir, '--json', '--quick'], t.io);
      assert.equal(code, 0, t.err());
      const report = JSON.parse(t.out()) as CheckReport;
      assert.deepEqual(
        report.checks.map((c) => c.name),
        SERVER_CHECKS.map((c) => c.name),
      );
      for (const c of report.checks) {
        assert.deepEqual(
          Object.keys(c).filter((k) => ['name', 'title', 'required', 'status', 'sent', 'expected', 'seen'].includes(k))
            .length,
          7,
        );
        assert.ok(['pass', 'fail', 'skip'].includes(c.status));
      }
      assert.equal(report.checks.filter((c) => c.required && c.status === 'pass').length, REQUIRED.length);
      assert.equal(report.summary.exitCode, 0);
      assert.equal(report.dir, dir);
    } finally {
      await server.close();
      await removeDir(dir);
    }
  });

  test('the text report names each check; a failing required check gives exit status 1', async () => {
    const dir = await tempDir();
    const broken = await brokenServer(dir, { noClose: true });
    try {
      const t = io();
      const code = await main(
        ['check', `${HOST}:${broken.port}`, '--quick', '--timeout', '500', '--only', 'quit,close-after-quit'],
        t.io,
      );
      assert.equal(code, 1);
      assert.match(t.out(), /PASS {2}quit/);
      assert.match(t.out(), /FAIL {2}close-after-quit/);
      assert.match(t.out(), /expected: Q, then the server closes the connection \(within 500 ms\)/);
      assert.doesNotMatch(t.out(), /\x1b\[/, 'no colours when stdout is not a terminal');
    } finally {
      await broken.close();
      await removeDir(dir);
    }
  });

  test('usage errors give exit status 2; nothing listening gives 3', async () => {
    let t = io();
    assert.equal(await main(['check', 'no-port-here'], t.io), 2);
    t = io();
    const file = join(await tempDir(), 'a-file');
    await writeFile(file, 'x');
    assert.equal(await main(['check', `${HOST}:1`, '--dir', file], t.io), 2);
    assert.match(t.err(), /not a folder/);
    t = io();
    assert.equal(await main(['check', `${HOST}:1`, '--only', 'no-such-check'], t.io), 2);
    t = io();
    const port = await freePort();
    assert.equal(await main(['check', `${HOST}:${port}`, '--quick', '--json'], t.io), 3);
    assert.equal((JSON.parse(t.out()) as CheckReport).summary.exitCode, 3);
  });
});
