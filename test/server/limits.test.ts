// The server's limits over real sockets: the idle timeout (silence from the client while the
// server waits for it), the connection caps just under and just over, and what counts against them.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, readdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { LinedropClient, MetricsServer } from '../../src/index.js';
import { proxyHeaderV1 } from '../../src/server/index.js';
import { isTempName } from '../../src/storage/file-sink.js';
import {
  HOST,
  QUIT,
  RawPeer,
  frame,
  listDir,
  record,
  removeDir,
  runServer,
  sleep,
  tempDir,
  tempFiles,
  until,
} from '../support.js';
import { withFailingHandles, withFlushFaults } from '../storage/fs-faults.js';

const fileText = (lines: readonly string[]): string => lines.map((l) => `${l}\n`).join('');

/** Every RawPeer a test opened, so it can close its side at the end (the server lingers on half-open sockets). */
const opened: RawPeer[] = [];
async function open(port: number): Promise<RawPeer> {
  const peer = await RawPeer.connect(port);
  opened.push(peer);
  return peer;
}
function closeAll(): void {
  for (const peer of opened.splice(0)) peer.destroy();
}

// ---------------------------------------------------------------------------------------------

// Generous, so starting 200 connections on a loaded machine never takes as long as the timeout.
const IDLE_MS = 4_000;
const SLOW = 200;
const SLOW_PERIOD_MS = 8_000;

/** A client that sends one byte of its message every `period` ms, and notes when the server closes. */
class SlowPeer {
  writes = 0;
  lastWrite = 0;
  closedAt = 0;
  private pos: number;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly peer: RawPeer,
    private readonly message: Buffer,
  ) {
    this.pos = 0;
    const mark = (): void => {
      this.closedAt ||= performance.now();
      this.stop();
    };
    peer.socket.once('end', mark);
    peer.socket.once('close', mark);
  }

  static async start(port: number, message: Buffer, firstBytes: number, period: number): Promise<SlowPeer> {
    const slow = new SlowPeer(await RawPeer.connect(port), message);
    await slow.send(firstBytes);
    slow.timer = setInterval(() => void slow.send(1).catch(() => undefined), period);
    return slow;
  }

  private async send(n: number): Promise<void> {
    if (this.peer.closed || this.pos >= this.message.length) return this.stop();
    const piece = this.message.subarray(this.pos, this.pos + n);
    this.pos += piece.length;
    this.writes++;
    this.lastWrite = performance.now();
    await this.peer.write(piece);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

describe('slow clients and the idle timeout', () => {
  test(`${SLOW} clients sending a byte every ${SLOW_PERIOD_MS} ms do not hold up a normal client, ` +
    `and the ${IDLE_MS} ms idle timeout closes them all`, {
    timeout: 60_000,
  }, async () => {
    const s = await runServer({ idleTimeoutMs: IDLE_MS, maxConnectionsPerAddress: SLOW + 10 });
    const { closed } = record(s);
    const slow: SlowPeer[] = [];
    try {
      // Half stop inside the count; half have sent the count and one byte of the line, so the
      // server has a temporary file open for them.
      for (let i = 0; i < SLOW; i += 20) {
        const batch = await Promise.all(
          Array.from({ length: 20 }, (_, j) =>
            SlowPeer.start(s.port, frame([`slow ${i + j}`]), (i + j) % 2 === 0 ? 1 : 5, SLOW_PERIOD_MS),
          ),
        );
        slow.push(...batch);
      }
      assert.ok(
        await until(() => s.server.connections === SLOW, IDLE_MS - 500),
        `${s.server.connections} open, not ${SLOW}`,
      );
      assert.ok(
        await until(async () => (await tempFiles(s.dir)).length === SLOW / 2, IDLE_MS - 500),
        'the half-sent files are not open',
      );

      // A normal client, while all of them are connected.
      const started = performance.now();
      const client = await LinedropClient.connect({ host: HOST, port: s.port });
      const files = [['first file', 'two lines'], ['second'], ['third', '', 'with an empty line']];
      for (const lines of files) assert.equal(await client.sendLines(lines), 'A');
      assert.equal(await client.quit(), 'Q');
      const ms = performance.now() - started;
      console.log(`normal client with ${SLOW} slow connections open: 3 files and quit in ${Math.round(ms)} ms`);
      assert.equal(s.server.connections, SLOW, 'slow clients were closed too early (before their idle timeout)');
      for (const [k, lines] of files.entries())
        assert.equal(await readFile(join(s.dir, `${k + 1}.txt`), 'utf8'), fileText(lines));

      // The idle timeout closes every slow connection, before any sends its second byte.
      const all = await Promise.all(slow.map((p) => p.peer.waitClosed(IDLE_MS + SLOW_PERIOD_MS + 5_000)));
      assert.ok(all.every(Boolean), `${all.filter((x) => !x).length} slow connections were never closed`);
      const quiet = slow.map((p) => p.closedAt - p.lastWrite);
      console.log(
        `slow clients closed ` +
          `${Math.round(Math.min(...quiet))}..${Math.round(Math.max(...quiet))} ms after their last byte`,
      );
      for (const [i, p] of slow.entries()) {
        assert.equal(String.fromCharCode(...p.peer.received), '', `slow client ${i} got a status`);
        assert.equal(p.writes, 1, `slow client ${i} had to send ${p.writes} bytes before the server closed it`);
        assert.ok(
          quiet[i]! >= IDLE_MS - 100,
          `slow client ${i} was closed after only ${Math.round(quiet[i]!)} ms of silence`,
        );
      }
      assert.ok(await until(() => closed.length === SLOW + 1, 5_000));
      const timedOut = closed.filter((x) => x.reason === 'idle-timeout');
      assert.equal(timedOut.length, SLOW, `${timedOut.length} connections closed by the idle timeout`);
      assert.ok(timedOut.every((x) => x.error?.name === 'ConnectionError' && x.files === 0));
      assert.deepEqual(
        closed.filter((x) => x.reason !== 'idle-timeout').map((x) => [x.reason, x.files]),
        [['quit', 3]],
      );
      assert.equal(s.server.connections, 0);
      assert.deepEqual(await listDir(s.dir), ['1.txt', '2.txt', '3.txt'], 'temporary files or extra files left behind');
    } finally {
      for (const p of slow) {
        p.stop();
        p.peer.destroy();
      }
      await s.close();
    }
  });

  test('just under the idle timeout (a pause of 40% between bytes) keeps the connection; just over closes it', {
    timeout: 30_000,
  }, async () => {
    const s = await runServer({ idleTimeoutMs: IDLE_MS });
    const { closed } = record(s);
    try {
      const underStream = frame(['ok!']); // 8 bytes: 7 pauses, 4.2 s in all, far more than the timeout
      const under = await open(s.port);
      const over = await open(s.port);
      const runUnder = (async () => {
        for (let i = 0; i < underStream.length; i++) {
          if (i > 0) await sleep(IDLE_MS * 0.4);
          assert.equal(under.closed, false, `closed after ${i} bytes, though no pause reached the timeout`);
          await under.write(underStream.subarray(i, i + 1));
        }
        assert.equal(await under.statuses(1, 5_000), 'A');
        await under.write(QUIT);
        assert.equal(await under.statuses(2, 5_000), 'AQ');
      })();
      const runOver = (async () => {
        await over.write(frame(['late'], 1).subarray(0, 5)); // the count and one byte of the line
        const wrote = performance.now();
        assert.ok(await over.waitClosed(IDLE_MS + 2_000), 'a connection silent past the timeout was not closed');
        const after = performance.now() - wrote;
        assert.ok(after >= IDLE_MS - 100, `closed after ${Math.round(after)} ms, before the timeout`);
        assert.equal(String.fromCharCode(...over.received), '', 'a timed-out connection got a status byte');
      })();
      await Promise.all([runUnder, runOver]);
      assert.ok(await until(() => closed.length === 2, 5_000));
      assert.deepEqual(closed.map((x) => x.reason).sort(), ['idle-timeout', 'quit']);
      assert.deepEqual(await listDir(s.dir), ['1.txt']);
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'ok!\n');
    } finally {
      closeAll();
      await s.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

/** A plain connection from a chosen local address (127.0.0.2 is loopback on Linux too). */
async function connectFrom(
  port: number,
  localAddress: string,
): Promise<{ socket: Socket; received: () => string; ended: Promise<unknown> }> {
  const socket = connect({ host: HOST, port, localAddress, allowHalfOpen: true });
  await once(socket, 'connect');
  socket.on('error', () => undefined);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((resolve) => {
    socket.once('end', resolve);
    socket.once('close', resolve);
  });
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), ended };
}

/** Sends one file and the quit message; returns the statuses once the server has closed. */
async function uploadAndQuit(peer: RawPeer, lines: string[]): Promise<string> {
  await peer.write(Buffer.concat([frame(lines), QUIT]));
  assert.ok(await peer.waitClosed(5_000));
  return String.fromCharCode(...peer.received);
}

describe('connection caps, just under and just over', () => {
  test('maxConnections 5: five are served, the sixth is closed at once without a status; after one ' +
    'closes, a new one is served', {
    timeout: 30_000,
  }, async () => {
    const s = await runServer({ layout: 'session', maxConnections: 5 });
    const { refused } = record(s);
    try {
      const peers = await Promise.all(Array.from({ length: 5 }, () => open(s.port)));
      assert.ok(await until(() => s.server.connections === 5, 5_000));

      const sixth = await open(s.port);
      const t = performance.now();
      assert.ok(await sixth.waitClosed(1_000), 'the sixth connection was not closed');
      assert.ok(performance.now() - t < 1_000);
      await sixth.write(frame(['too many'])).catch(() => undefined);
      await sleep(100);
      assert.equal(String.fromCharCode(...sixth.received), '', 'the refused connection got a status byte');
      assert.deepEqual(
        refused.map((r) => r.reason),
        ['too-many-connections'],
      );
      assert.equal(s.server.connections, 5);

      // The five at the cap all work.
      for (const [i, peer] of peers.entries()) {
        await peer.write(frame([`at the cap ${i}`]));
        assert.equal(await peer.statuses(1, 5_000), 'A', `connection ${i} under the cap`);
      }
      // One closes; a new one is accepted and served; with five open again, the next is refused.
      await peers[0]!.write(QUIT);
      assert.equal(await peers[0]!.statuses(2, 5_000), 'AQ');
      assert.ok(await until(() => s.server.connections === 4, 5_000));
      const replacement = await open(s.port);
      await replacement.write(frame(['replacement']));
      assert.equal(await replacement.statuses(1, 5_000), 'A', 'the connection after one closed was not served');
      const seventh = await open(s.port);
      assert.ok(await seventh.waitClosed(1_000));
      assert.equal(seventh.received.length, 0);
      assert.deepEqual(
        refused.map((r) => r.reason),
        ['too-many-connections', 'too-many-connections'],
      );

      for (const peer of [...peers.slice(1), replacement]) {
        await peer.write(QUIT);
        assert.equal(await peer.statuses(2, 5_000), 'AQ');
      }
      const contents: string[] = [];
      for (const folder of await readdir(s.dir)) {
        assert.deepEqual(await listDir(join(s.dir, folder)), ['1.txt']);
        contents.push(await readFile(join(s.dir, folder, '1.txt'), 'utf8'));
      }
      assert.deepEqual(contents.sort(), [...[0, 1, 2, 3, 4].map((i) => `at the cap ${i}\n`), 'replacement\n'].sort());
    } finally {
      closeAll();
      await s.close();
    }
  });

  test('maxConnectionsPerAddress 3: the fourth from 127.0.0.1 is refused while the first three ' +
    'work; other addresses and later connections are served', {
    timeout: 30_000,
  }, async () => {
    const s = await runServer({ layout: 'session', maxConnectionsPerAddress: 3 });
    const { refused } = record(s);
    try {
      const peers = await Promise.all(Array.from({ length: 3 }, () => open(s.port)));
      assert.ok(await until(() => s.server.connections === 3, 5_000));

      const fourth = await open(s.port);
      assert.ok(await fourth.waitClosed(1_000), 'the fourth connection from 127.0.0.1 was not closed');
      assert.equal(fourth.received.length, 0, 'the refused connection got a status byte');
      assert.equal(refused.length, 1);
      assert.equal(refused[0]!.reason, 'too-many-from-address');
      assert.match(refused[0]!.remote, /^127\.0\.0\.1:\d+$/);

      // The limit is per address: another loopback address is still served.
      const other = await connectFrom(s.port, '127.0.0.2');
      other.socket.end(Buffer.concat([frame(['from 127.0.0.2']), QUIT]));
      await other.ended;
      assert.equal(other.received(), 'AQ');

      for (const [i, peer] of peers.entries()) {
        await peer.write(frame([`per address ${i}`]));
        assert.equal(await peer.statuses(1, 5_000), 'A');
      }
      await peers[0]!.write(QUIT);
      assert.equal(await peers[0]!.statuses(2, 5_000), 'AQ');
      assert.ok(await until(() => s.server.connections === 2, 5_000));
      const later = await open(s.port);
      assert.equal(await uploadAndQuit(later, ['later']), 'AQ', 'a connection after one closed was not served');
      for (const peer of peers.slice(1)) {
        await peer.write(QUIT);
        assert.equal(await peer.statuses(2, 5_000), 'AQ');
      }
      assert.equal(refused.length, 1);
      const contents: string[] = [];
      for (const folder of await readdir(s.dir)) contents.push(await readFile(join(s.dir, folder, '1.txt'), 'utf8'));
      assert.deepEqual(contents.sort(), [
        'from 127.0.0.2\n',
        'later\n',
        'per address 0\n',
        'per address 1\n',
        'per address 2\n',
      ]);
      assert.deepEqual(await tempFiles(s.dir), []);
    } finally {
      closeAll();
      await s.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("the idle timeout counts only the client's silence", () => {
  const IDLE = 500;

  test(
    'a folder flush slower than the idle timeout: the whole message is answered A; silence after ' +
      'the A is then timed out',
    async () => {
      const s = await runServer({ idleTimeoutMs: IDLE });
      const { closed } = record(s);
      try {
        await withFlushFaults(
          s.server.storage.location,
          { folderSync: async (_n, real) => (await sleep(IDLE * 3), real()) },
          async () => {
            const peer = await open(s.port);
            await peer.write(frame(['flushed slowly']));
            assert.equal(
              await peer.statuses(1, 10_000),
              'A',
              'the client that sent a whole message was cut off while the server flushed',
            );
            const answered = performance.now();
            assert.ok(await peer.waitClosed(IDLE * 10), 'a client silent after its answer was never timed out');
            const silence = performance.now() - answered;
            assert.ok(silence >= IDLE - 50, `closed after ${Math.round(silence)} ms of silence, less than the timeout`);
          },
        );
        assert.ok(await until(() => closed.length === 1));
        assert.equal(closed[0]!.reason, 'idle-timeout');
        assert.equal(closed[0]!.files, 1);
        assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'flushed slowly\n');
      } finally {
        closeAll();
        await s.close();
      }
    },
  );

  test('a large upload while the disk is slower than the idle timeout: not cut mid-message while ' +
    'the server is the one not reading', {
    timeout: 60_000,
  }, async () => {
    const s = await runServer({ idleTimeoutMs: IDLE });
    const { closed } = record(s);
    const line = 'y'.repeat(64 * 1024 - 1);
    const lines = Array.from({ length: 192 }, () => line); // 12 MiB: three times what the server queues before it stops reading
    try {
      await withFailingHandles(
        (path, handle) => {
          if (!isTempName(path.split('/').pop()!)) return;
          const real = handle.writev.bind(handle);
          handle.writev = (async (buffers: Buffer[]) => (await sleep(IDLE * 2), real(buffers))) as typeof handle.writev;
        },
        async () => {
          const peer = await open(s.port);
          await peer.write(Buffer.concat([frame(lines), QUIT]));
          assert.equal(await peer.statuses(2, 30_000), 'AQ');
        },
      );
      assert.ok(await until(() => closed.length === 1));
      assert.equal(closed[0]!.reason, 'quit');
      assert.equal((await readFile(join(s.dir, '1.txt'))).length, 192 * 64 * 1024);
    } finally {
      closeAll();
      await s.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

/** Descriptors this process has open now (the server's and the test's own sockets alike). */
async function descriptors(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

/** A plain TCP connection that sends nothing, and notes when the server closes it. */
async function silent(port: number): Promise<{ socket: Socket; closed: () => boolean }> {
  const socket = connect({ host: HOST, port });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  let closed = false;
  socket.once('close', () => (closed = true));
  socket.once('end', () => {
    closed = true;
    socket.destroy();
  });
  socket.resume();
  return { socket, closed: () => closed };
}

describe('every accepted socket counts against the caps, whatever it waits for', () => {
  let certDir = '';
  const pem: { cert?: Buffer; key?: Buffer } = {};
  const HANDSHAKE_MS = 3_000;

  before(async () => {
    certDir = await tempDir('linedrop-tls-');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { cwd: certDir, stdio: 'ignore' },
    );
    pem.cert = await readFile(join(certDir, 'cert.pem'));
    pem.key = await readFile(join(certDir, 'key.pem'));
  });

  after(async () => {
    await removeDir(certDir);
  });

  for (const kind of ['TLS handshake', 'PROXY header'] as const) {
    test(`maxConnections 10, 30 connections that never send their ${kind}: 20 refused at once, 10 ` +
      `held until the handshake timeout, then a client is served`, {
      timeout: 30_000,
    }, async () => {
      const s = await runServer({
        maxConnections: 10,
        maxConnectionsPerAddress: 100,
        handshakeTimeoutMs: HANDSHAKE_MS,
        ...(kind === 'TLS handshake' ? { tls: { cert: pem.cert!, key: pem.key! } } : { proxyProtocol: true }),
      });
      const { refused } = record(s);
      const peers: { socket: Socket; closed: () => boolean }[] = [];
      try {
        for (let i = 0; i < 30; i++) peers.push(await silent(s.port));
        assert.ok(
          await until(() => peers.filter((p) => p.closed()).length >= 20, HANDSHAKE_MS),
          `${peers.filter((p) => p.closed()).length} of 30 closed: the waiting ones are not counted`,
        );
        assert.equal(refused.filter((r) => r.reason === 'too-many-connections').length, 20, 'refused at the cap');
        assert.ok(s.server.acceptedSockets <= 10, `${s.server.acceptedSockets} sockets held`);
        assert.ok(
          await until(() => peers.every((p) => p.closed()), HANDSHAKE_MS + 5_000),
          'the connections held were not closed at the handshake timeout',
        );
        const timedOut = refused.filter(
          (r) => r.reason === (kind === 'TLS handshake' ? 'tls-handshake' : 'proxy-header'),
        );
        assert.equal(timedOut.length, 10, 'each connection held is closed at the handshake timeout, and said so');
        assert.ok(await until(() => s.server.acceptedSockets === 0));

        // The places are free again.
        if (kind === 'TLS handshake') {
          const client = await LinedropClient.connect({ host: HOST, port: s.port, tls: { ca: pem.cert! } });
          assert.equal(await client.sendLines(['after the storm']), 'A');
          assert.equal(await client.quit(), 'Q');
        } else {
          const peer = await open(s.port);
          await peer.write(
            Buffer.concat([
              proxyHeaderV1({ address: '192.0.2.1', port: 4000 }, { address: '192.0.2.2', port: 12100 }),
              frame(['after the storm']),
              QUIT,
            ]),
          );
          assert.equal(await peer.statuses(2), 'AQ');
        }
        assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'after the storm\n');
      } finally {
        for (const p of peers) p.socket.destroy();
        closeAll();
        await s.close();
      }
    });
  }

  test('TLS: 50 connect-then-close and 50 that send garbage leave no descriptor behind (no CLOSE-WAIT)', {
    timeout: 30_000,
  }, async (t) => {
    const s = await runServer({
      tls: { cert: pem.cert!, key: pem.key! },
      handshakeTimeoutMs: HANDSHAKE_MS,
      maxConnectionsPerAddress: 200,
    });
    try {
      const before = await descriptors();
      for (let i = 0; i < 50; i++) {
        const closer = await silent(s.port);
        closer.socket.destroy();
        const junk = await silent(s.port);
        junk.socket.end('GET / HTTP/1.0\r\n\r\n');
      }
      const peak = await descriptors();
      assert.ok(
        await until(async () => (await descriptors()) <= before, HANDSHAKE_MS + 5_000),
        `${(await descriptors()) - before} descriptors still open`,
      );
      t.diagnostic(
        `descriptors: ${before} before, ${peak} just after 100 bad TLS connections, ` +
          `${await descriptors()} once they are closed`,
      );
      assert.equal(s.server.acceptedSockets, 0);
    } finally {
      await s.close();
    }
  });

  test('TLS: a peer that connects then closes before its handshake frees its socket at once, not at ' +
    'the handshake timeout', {
    timeout: 30_000,
  }, async () => {
    // A handshake timeout far beyond the wait below: only the peer's close can free the socket in time.
    const s = await runServer({
      tls: { cert: pem.cert!, key: pem.key! },
      handshakeTimeoutMs: 120_000,
      maxConnectionsPerAddress: 200,
    });
    const { refused } = record(s);
    try {
      const before = await descriptors();
      for (let i = 0; i < 20; i++) {
        const closer = connect({ host: HOST, port: s.port });
        closer.on('error', () => undefined);
        await once(closer, 'connect');
        closer.destroy();
        await once(closer, 'close');
      }
      assert.ok(
        await until(() => s.server.acceptedSockets === 0, 8_000),
        `${s.server.acceptedSockets} sockets still held after their peers closed`,
      );
      assert.ok(
        await until(async () => (await descriptors()) <= before, 8_000),
        `${(await descriptors()) - before} descriptors still open`,
      );
      assert.deepEqual(refused, [], 'a peer that leaves before its handshake is not refused');
      // Half-closing after the handshake still gets its answers: the quit's Q comes back after the client's FIN.
      const client = await LinedropClient.connect({ host: HOST, port: s.port, tls: { ca: pem.cert! } });
      assert.equal(await client.sendLines(['still served']), 'A');
      assert.equal(await client.quit(), 'Q');
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'still served\n');
    } finally {
      await s.close();
    }
  });

  test('TLS: a client that sends its whole upload and half-closes before reading gets every answer', {
    timeout: 30_000,
  }, async () => {
    const s = await runServer({ tls: { cert: pem.cert!, key: pem.key! } });
    try {
      const socket = tlsConnect({ host: HOST, port: s.port, ca: pem.cert! });
      socket.on('error', () => undefined);
      await once(socket, 'secureConnect');
      const received: Buffer[] = [];
      socket.on('data', (b: Buffer) => received.push(b));
      socket.end(Buffer.concat([frame(['one']), frame(['two']), QUIT]));
      await once(socket, 'close');
      assert.equal(Buffer.concat(received).toString('latin1'), 'AAQ');
      assert.equal(await readFile(join(s.dir, '2.txt'), 'utf8'), 'two\n');
    } finally {
      await s.close();
    }
  });

  test('the metrics endpoint answers /healthz and /metrics during a flood of 400 silent connections', {
    timeout: 60_000,
  }, async (t) => {
    const s = await runServer();
    // An idle timeout far beyond the waits below: only closing silent connections early makes room.
    const metrics = await MetricsServer.start(s.server, { port: 0, host: HOST, idleTimeoutMs: 120_000 });
    const peers: { socket: Socket; closed: () => boolean }[] = [];
    try {
      for (let i = 0; i < 400; i++) peers.push(await silent(metrics.address().port));
      const health = await fetch(`${metrics.url}/healthz`, { signal: AbortSignal.timeout(20_000) });
      assert.equal(health.status, 200);
      assert.equal(await health.text(), 'ok\n');
      const scrape = await fetch(`${metrics.url}/metrics`, { signal: AbortSignal.timeout(20_000) });
      assert.equal(scrape.status, 200);
      assert.match(await scrape.text(), /^linedrop_listening 1$/m);
      const held = peers.filter((p) => !p.closed()).length;
      assert.ok(
        await until(() => peers.filter((p) => !p.closed()).length <= 16),
        `${peers.filter((p) => !p.closed()).length} silent connections held`,
      );
      t.diagnostic(`400 silent connections: ${held} still open when /healthz and /metrics had answered`);
    } finally {
      for (const p of peers) p.socket.destroy();
      await metrics.close();
      await s.close();
    }
  });

  test('the metrics endpoint holds at most its maxConnections (16 by default); idle ones are ' +
    'closed; /healthz still answers', {
    timeout: 30_000,
  }, async (t) => {
    const s = await runServer();
    const metrics = await MetricsServer.start(s.server, {
      port: 0,
      host: HOST,
      maxConnections: 4,
      idleTimeoutMs: 3_000,
    });
    const peers: { socket: Socket; closed: () => boolean }[] = [];
    try {
      const before = await descriptors();
      for (let i = 0; i < 40; i++) peers.push(await silent(metrics.address().port));
      assert.ok(
        await until(() => peers.filter((p) => p.closed()).length >= 36, 2_500),
        `${peers.filter((p) => p.closed()).length} of 40 closed at once`,
      );
      const held = peers.filter((p) => !p.closed()).length;
      assert.ok(held <= 4, `${held} idle metrics connections held`);
      assert.ok(await until(() => peers.every((p) => p.closed()), 8_000), 'idle metrics connections are closed');
      t.diagnostic(
        `40 idle connections to the metrics port: ${held} held, for 3 s; descriptors ` +
          `back to ${await descriptors()} (was ${before})`,
      );
      const res = await fetch(`${metrics.url}/healthz`);
      assert.equal(res.status, 200);
    } finally {
      for (const p of peers) p.socket.destroy();
      await metrics.close();
      await s.close();
    }
  });
});
