// The client library against servers that do not behave: one that never answers, one that never
// reads, one whose backlog is full, one that sends bytes nobody asked for; and the window of
// messages in flight (sent without waiting for each A), with an R in the middle.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ClientError, LinedropClient, measureFile } from '../../src/index.js';
import { HOST, listDir, removeDir, runServer, sleep, tempDir, until } from '../support.js';
import { FullBacklog, Peer } from './peers.js';

const isClientError = (code: string, message?: RegExp) => (e: unknown) =>
  e instanceof ClientError && e.code === code && (message === undefined || message.test(e.message));

describe('client: timeouts', () => {
  test(
    'a connect that is never answered (full backlog) fails with LINEDROP_ERR_CONNECT_TIMEOUT ' +
      'after connectTimeoutMs',
    async () => {
      const backlog = await FullBacklog.start();
      try {
        const started = performance.now();
        await assert.rejects(
          LinedropClient.connect({ host: HOST, port: backlog.port, connectTimeoutMs: 300 }),
          isClientError(
            'LINEDROP_ERR_CONNECT_TIMEOUT',
            new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${backlog.port}: no answer within 300 ms$`),
          ),
        );
        assert.ok(performance.now() - started >= 290);
      } finally {
        await backlog.close();
      }
    },
  );

  test(
    'a server that reads but never answers: LINEDROP_ERR_TIMEOUT after timeoutMs of silence, the ' +
      'connection closed',
    async () => {
      const peer = await Peer.start();
      try {
        const client = await LinedropClient.connect({ host: HOST, port: peer.port, timeoutMs: 300 });
        await assert.rejects(
          client.sendLines(['hello']),
          isClientError(
            'LINEDROP_ERR_TIMEOUT',
            /^no answer from the server for 300 ms \(waiting for the status of message 1\); the connection was closed$/,
          ),
        );
        await client.whenClosed();
        assert.equal(peer.messages, 1, 'the message itself went out');
        await assert.rejects(client.quit(), isClientError('LINEDROP_ERR_TIMEOUT'));
      } finally {
        await peer.close();
      }
    },
  );

  test('a server that never reads (its receive window fills): LINEDROP_ERR_TIMEOUT that says so', async () => {
    const peer = await Peer.start({ read: false });
    const dir = await tempDir();
    try {
      // More than loopback's socket buffers on both sides can hold.
      const path = join(dir, 'big.txt');
      await writeFile(path, Buffer.alloc(64 * 1024 * 1024, 'line of text\n'));
      const client = await LinedropClient.connect({ host: HOST, port: peer.port, timeoutMs: 300 });
      let sent = 0;
      await assert.rejects(
        client.sendFile(path, { onProgress: (n) => (sent = n) }),
        isClientError(
          'LINEDROP_ERR_TIMEOUT',
          /^the server has not read anything for 300 ms \(its receive window is full\); the connection was closed$/,
        ),
      );
      assert.ok(sent < 64 * 1024 * 1024);
      await client.whenClosed();
    } finally {
      await peer.close();
      await removeDir(dir);
    }
  });

  test('a server that answers Q but never closes the connection: closed by the client after timeoutMs', async () => {
    const peer = await Peer.start({
      allowHalfOpen: true,
      onMessage: (socket, lines) => socket.write(lines === 0 ? 'Q' : 'A'),
    });
    try {
      const client = await LinedropClient.connect({ host: HOST, port: peer.port, timeoutMs: 300 });
      assert.equal(await client.sendLines(['x']), 'A');
      assert.equal(await client.quit(), 'Q');
      await client.whenClosed(); // (without the client's own deadline, this waits forever)
    } finally {
      await peer.close();
    }
  });

  test('timeoutMs 0 waits as long as the server takes', async () => {
    const peer = await Peer.start({ onMessage: (socket) => setTimeout(() => socket.write('A'), 700) });
    try {
      const client = await LinedropClient.connect({ host: HOST, port: peer.port, timeoutMs: 0 });
      assert.equal(await client.sendLines(['slow']), 'A');
      client.destroy();
    } finally {
      await peer.close();
    }
  });

  test("time spent waiting for the caller (lines typed slowly) is not the server's silence", async () => {
    const peer = await Peer.start({ onMessage: (socket, lines) => socket.write(lines === 0 ? 'Q' : 'A') });
    try {
      const client = await LinedropClient.connect({ host: HOST, port: peer.port, timeoutMs: 800 });
      async function* typed(): AsyncGenerator<string> {
        for (const line of ['first', 'second']) {
          await sleep(1200);
          yield line;
        }
      }
      assert.equal(await client.sendLineStream(2, typed()), 'A');
      assert.equal(await client.quit(), 'Q');
    } finally {
      await peer.close();
    }
  });
});

describe('client: bytes no message asked for', () => {
  test(
    'a server that sprays A while the client sends: LINEDROP_ERR_UNSOLICITED at once, nothing ' +
      'collected, the connection closed',
    async () => {
      let sprayed = 0;
      const peer = await Peer.start({
        onConnect: (socket) => {
          const chunk = Buffer.alloc(64 * 1024, 'A');
          const spray = (): void => {
            while (!socket.destroyed && socket.write(chunk)) sprayed += chunk.length;
          };
          socket.on('drain', spray);
          spray();
        },
      });
      const dir = await tempDir();
      try {
        const path = join(dir, 'big.txt');
        await writeFile(path, Buffer.alloc(16 * 1024 * 1024, 'line of text\n'));
        const client = await LinedropClient.connect({ host: HOST, port: peer.port });
        await assert.rejects(
          client.sendFile(path),
          isClientError(
            'LINEDROP_ERR_UNSOLICITED',
            /^the server sent "A{16}" \(41 41 .* 41\) and \d+ more bytes that no file asked for; the connection was closed$|^the server answered "A" to message 1 before the client had sent all of it/,
          ),
        );
        await client.whenClosed();
        assert.equal(await until(() => peer.sockets.size === 0), true, 'the server sees the connection closed');
        assert.ok(sprayed > 0);
      } finally {
        await peer.close();
        await removeDir(dir);
      }
    },
  );

  test(
    'a server that answers "A\\n": the file is A, the stray "\\n" ends the connection with ' +
      'LINEDROP_ERR_UNSOLICITED',
    async () => {
      const peer = await Peer.start({ onMessage: (socket) => socket.write('A\n') });
      try {
        const client = await LinedropClient.connect({ host: HOST, port: peer.port });
        assert.equal(await client.sendLines(['one']), 'A');
        await client.whenClosed();
        await assert.rejects(
          client.quit(),
          isClientError(
            'LINEDROP_ERR_UNSOLICITED',
            /^the server sent "\\n" \(0a\) that no file asked for; the connection was closed$/,
          ),
        );
      } finally {
        await peer.close();
      }
    },
  );

  test('A for a message not yet completely sent: LINEDROP_ERR_UNSOLICITED', async () => {
    // Answers A as soon as the count has arrived.
    let answered = false;
    const peer = await Peer.start({
      onConnect: (socket) =>
        socket.on('data', () => {
          if (!answered) socket.write('A');
          answered = true;
        }),
    });
    const dir = await tempDir();
    try {
      const path = join(dir, 'big.txt');
      await writeFile(path, Buffer.alloc(32 * 1024 * 1024, 'line of text\n'));
      const client = await LinedropClient.connect({ host: HOST, port: peer.port });
      await assert.rejects(
        client.sendFile(path),
        isClientError(
          'LINEDROP_ERR_UNSOLICITED',
          /^the server answered "A" to message 1 before the client had sent all of it; the connection was closed$/,
        ),
      );
    } finally {
      await peer.close();
      await removeDir(dir);
    }
  });
});

describe('client: messages in flight', () => {
  test('the next messages go out without waiting for each A, at most maxInFlight ahead of the answers', async () => {
    const owed: import('node:net').Socket[] = [];
    const peer = await Peer.start({ onMessage: (socket) => owed.push(socket) });
    const answer = (n: number): void => {
      for (const socket of owed.splice(0, n)) socket.write('A');
    };
    try {
      const client = await LinedropClient.connect({ host: HOST, port: peer.port, maxInFlight: 4 });
      const statuses = Array.from({ length: 10 }, (_, i) => client.sendLines([`file ${i + 1}`]));
      assert.equal(await until(() => peer.messages === 4), true, 'four messages sent with no answer yet');
      await sleep(200);
      assert.equal(peer.messages, 4, 'and no fifth before an answer');
      answer(1);
      assert.equal(await statuses[0], 'A');
      assert.equal(await until(() => peer.messages === 5), true, 'one answer makes room for one message');
      for (let i = 0; i < 10 && peer.messages < 10; i++) {
        answer(owed.length);
        await until(() => owed.length > 0 || peer.messages === 10, 2000);
      }
      answer(owed.length);
      assert.deepEqual(await Promise.all(statuses), Array(10).fill('A'));
      client.destroy();
    } finally {
      await peer.close();
    }
  });

  test(
    'an R for message k: k resolves to R, the later messages fail with LINEDROP_ERR_NOT_ACCEPTED ' +
      'naming k, nothing after k is stored',
    async () => {
      const s = await runServer({ limits: { maxLines: 2 } });
      try {
        const client = await LinedropClient.connect({ host: HOST, port: s.port, maxInFlight: 8 });
        const sizes = [1, 2, 3, 1, 2];
        const results = await Promise.allSettled(
          sizes.map((n, i) => client.sendLines(Array.from({ length: n }, (_, k) => `file ${i + 1} line ${k + 1}`))),
        );
        assert.deepEqual(
          results.slice(0, 3).map((r) => (r.status === 'fulfilled' ? r.value : r.reason)),
          ['A', 'A', 'R'],
        );
        for (const r of results.slice(3)) {
          assert.equal(r.status, 'rejected');
          assert.ok(
            isClientError(
              'LINEDROP_ERR_NOT_ACCEPTED',
              /^not accepted: the server rejected message 3, so it ends the connection$/,
            )(r.reason),
            String(r.reason),
          );
        }
        await client.whenClosed();
        await s.server.idle();
        assert.deepEqual(await listDir(s.dir), ['1.txt', '2.txt']);
      } finally {
        await s.close();
      }
    },
  );

  test(
    'sendFile keeps to a given shape on the small-file path too (a shape that does not match: ' +
      'LINEDROP_ERR_FILE_CHANGED)',
    async () => {
      const s = await runServer();
      const dir = await tempDir();
      try {
        const path = join(dir, 'small.txt');
        await writeFile(path, 'a\nb\n');
        const shape = await measureFile(path);
        await writeFile(path, 'abc\n'); // as many bytes, one line fewer
        const client = await LinedropClient.connect({ host: HOST, port: s.port });
        await assert.rejects(client.sendFile(path, { shape }), isClientError('LINEDROP_ERR_FILE_CHANGED'));
        await client.whenClosed();
        await s.server.idle();
        assert.deepEqual(await listDir(s.dir), []);

        // Changed so that its bytes would complete the message early ("a\n" of a one-line count):
        // checked before that byte goes out, so the server sees a message cut short and stores nothing.
        await writeFile(path, 'ab\n');
        const oneLine = await measureFile(path);
        await writeFile(path, 'a\nb');
        const third = await LinedropClient.connect({ host: HOST, port: s.port });
        await assert.rejects(third.sendFile(path, { shape: oneLine }), isClientError('LINEDROP_ERR_FILE_CHANGED'));
        await third.whenClosed();
        await s.server.idle();
        assert.deepEqual(await listDir(s.dir), []);

        await writeFile(path, 'x\ny');
        const again = await LinedropClient.connect({ host: HOST, port: s.port });
        assert.equal(await again.sendFile(path, { shape: await measureFile(path) }), 'A');
        assert.equal(await again.quit(), 'Q');
        assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'x\ny\n');
      } finally {
        await s.close();
        await removeDir(dir);
      }
    },
  );
});
