import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ClientError, LinedropClient, startServer } from '../../src/index.js';
import { decodeAll } from '../../src/protocol/index.js';
import { HOST, freePort, listDir, removeDir, runServer, tempDir } from '../support.js';

describe('client library against the server', () => {
  test('sendLines, sendBuffer and sendFile resolve to A; quit resolves to Q', async () => {
    const s = await runServer();
    const files = await tempDir();
    try {
      await writeFile(join(files, 'no-final-newline.txt'), 'one\ntwo');
      const client = await LinedropClient.connect({ host: HOST, port: s.port });
      assert.equal(await client.sendLines(['héllo', '', 'wörld\r']), 'A');
      assert.equal(await client.sendBuffer(Buffer.from('a\nb\n')), 'A');
      assert.equal(await client.sendFile(join(files, 'no-final-newline.txt')), 'A');
      assert.equal(await client.quit(), 'Q');
      await client.whenClosed();
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'héllo\n\nwörld\r\n');
      assert.equal(await readFile(join(s.dir, '2.txt'), 'utf8'), 'a\nb\n');
      assert.equal(await readFile(join(s.dir, '3.txt'), 'utf8'), 'one\ntwo\n', 'the missing final newline is added');
    } finally {
      await s.close();
      await removeDir(files);
    }
  });

  test('a large file is streamed from disk and arrives byte for byte', async () => {
    const s = await runServer();
    const files = await tempDir();
    try {
      // About 6 MiB of lines of varying length, with no final newline.
      const parts: string[] = [];
      for (let i = 0; i < 120_000; i++) parts.push(`line ${i} ${'x'.repeat(i % 97)}`);
      const body = parts.join('\n');
      const path = join(files, 'big.txt');
      await writeFile(path, body);
      const client = await LinedropClient.connect({ host: HOST, port: s.port });
      let progress = 0;
      assert.equal(await client.sendFile(path, { onProgress: (n) => (progress = n) }), 'A');
      assert.equal(progress, Buffer.byteLength(body));
      assert.equal(await client.quit(), 'Q');
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), `${body}\n`);
    } finally {
      await s.close();
      await removeDir(files);
    }
  });

  test('pipelined sends resolve in order', async () => {
    const s = await runServer();
    try {
      const client = await LinedropClient.connect({ host: HOST, port: s.port });
      const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => client.sendLines([`file ${i + 1}`])));
      assert.deepEqual(statuses, Array(20).fill('A'));
      assert.equal(await client.quit(), 'Q');
      for (let i = 1; i <= 20; i++) assert.equal(await readFile(join(s.dir, `${i}.txt`), 'utf8'), `file ${i}\n`);
    } finally {
      await s.close();
    }
  });

  test('an empty file or message is refused before anything is sent', async () => {
    const s = await runServer();
    const files = await tempDir();
    try {
      await writeFile(join(files, 'empty.txt'), '');
      const client = await LinedropClient.connect({ host: HOST, port: s.port });
      // The caller's mistakes are a RangeError and a TypeError, as Node.js makes them; an empty file is a ClientError.
      await assert.rejects(client.sendLines([]), { name: 'RangeError', code: 'LINEDROP_ERR_EMPTY_MESSAGE' });
      await assert.rejects(client.sendBuffer(Buffer.alloc(0)), {
        name: 'RangeError',
        code: 'LINEDROP_ERR_EMPTY_MESSAGE',
      });
      await assert.rejects(
        client.sendFile(join(files, 'empty.txt')),
        (e: unknown) => e instanceof ClientError && e.code === 'LINEDROP_ERR_EMPTY_FILE',
      );
      await assert.rejects(client.sendLines(['a\nb']), { name: 'TypeError', code: 'LINEDROP_ERR_INVALID_LINE' });
      // The connection is still clean: the next file is 1.txt.
      assert.equal(await client.sendLines(['after']), 'A');
      assert.equal(await client.quit(), 'Q');
      assert.deepEqual(await listDir(s.dir), ['1.txt']);
    } finally {
      await s.close();
      await removeDir(files);
    }
  });

  test('a rejected file resolves to R, and later sends fail with LINEDROP_ERR_NOT_ACCEPTED', async () => {
    const s = await runServer({ limits: { maxLineBytes: 4 } });
    try {
      const client = await LinedropClient.connect({ host: HOST, port: s.port });
      assert.equal(await client.sendLines(['fits']), 'A');
      assert.equal(await client.sendLines(['too long']), 'R');
      await client.whenClosed();
      await assert.rejects(
        client.sendLines(['x']),
        (e: unknown) =>
          e instanceof ClientError && e.code === 'LINEDROP_ERR_NOT_ACCEPTED' && /rejected message 2/.test(e.message),
      );
    } finally {
      await s.close();
    }
  });

  test('remote and local name both ends as addresses are typed: IPv6 in brackets', async () => {
    const dir = await tempDir();
    const server = await startServer({ dir, port: 0, host: '::1' });
    try {
      const port = server.address().port;
      const client = await LinedropClient.connect({ host: '::1', port });
      assert.equal(client.remote, `[::1]:${port}`);
      assert.match(client.local, /^\[::1\]:\d+$/);
      assert.equal(await client.quit(), 'Q');
      const v4 = await runServer();
      try {
        const other = await LinedropClient.connect({ host: HOST, port: v4.port });
        assert.equal(other.remote, `${HOST}:${v4.port}`);
        assert.match(other.local, /^127\.0\.0\.1:\d+$/);
        assert.equal(await other.quit(), 'Q');
      } finally {
        await v4.close();
      }
    } finally {
      await server.close();
      await removeDir(dir);
    }
  });

  test('connecting to a closed port fails with LINEDROP_ERR_CONNECT', async () => {
    const port = await freePort();
    await assert.rejects(
      LinedropClient.connect({ host: HOST, port }),
      (e: unknown) => e instanceof ClientError && e.code === 'LINEDROP_ERR_CONNECT',
    );
  });

  test('what the client puts on the wire, byte for byte', async () => {
    const chunks: Buffer[] = [];
    const server = createServer((socket: Socket) => {
      socket.on('data', (c: Buffer) => {
        chunks.push(c);
        const all = Buffer.concat(chunks);
        // Answer A per complete message, Q for the quit: a minimal server.
        try {
          const messages = decodeAll(all);
          const answered = (socket as Socket & { answered?: number }).answered ?? 0;
          for (const m of messages.slice(answered)) socket.write(m.lines.length === 0 ? 'Q' : 'A');
          (socket as Socket & { answered?: number }).answered = messages.length;
        } catch {
          // not complete yet
        }
      });
    });
    server.listen(0, HOST);
    await once(server, 'listening');
    try {
      const client = await LinedropClient.connect({ host: HOST, port: (server.address() as { port: number }).port });
      assert.equal(await client.sendLines(['hi', '']), 'A');
      assert.equal(await client.sendBuffer(Buffer.from('x')), 'A');
      assert.equal(await client.quit(), 'Q');
      assert.deepEqual(
        Buffer.concat(chunks),
        Buffer.from([0, 0, 0, 2, 0x68, 0x69, 0x0a, 0x0a, 0, 0, 0, 1, 0x78, 0x0a, 0, 0, 0, 0]),
      );
    } finally {
      server.close();
    }
  });
});
