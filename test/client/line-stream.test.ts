// Messages whose lines come one by one from the caller (src/client/line-stream.ts, what the
// interactive client sends as a person types): each line leaves as soon as it is given, and a
// line holding a newline or a source that runs out ends the connection with nothing stored.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ClientError, LinedropClient } from '../../src/index.js';
import { HOST, listDir, until, withServer, within } from '../support.js';
import { Peer } from './peers.js';

describe('client: lines from the caller', () => {
  test('each line goes out before the next one is given; strings and bytes on the wire byte for byte', async (t) => {
    const wire: Buffer[] = [];
    const peer = await Peer.start({
      onConnect: (socket) => socket.on('data', (chunk: Buffer) => wire.push(chunk)),
      onMessage: (socket, lines) => socket.write(lines === 0 ? 'Q' : 'A'),
    });
    t.after(() => peer.close());
    const client = await LinedropClient.connect({ host: HOST, port: peer.port });
    const given: (string | Buffer)[] = ['héllo', Buffer.from([0xff, 0x00, 0x0d]), ''];
    const seen: number[] = [];
    async function* typed(): AsyncGenerator<string | Buffer> {
      let expected = 4; // the count goes out at once
      for (const line of given) {
        seen.push(Number(await until(() => peer.received === expected)));
        yield line;
        expected += Buffer.byteLength(line) + 1;
      }
    }
    let sent = false;
    assert.equal(await client.sendLineStream(3, typed(), { onSent: () => (sent = true) }), 'A');
    assert.ok(sent);
    assert.deepEqual(seen, [1, 1, 1], 'the count, then each line, had reached the server before the next was given');
    assert.equal(await client.quit(), 'Q');
    await client.whenClosed();
    const message = Buffer.concat([
      Buffer.from([0, 0, 0, 3]),
      Buffer.from('héllo\n'),
      Buffer.from([0xff, 0x00, 0x0d, 0x0a]),
      Buffer.from('\n'),
    ]);
    assert.deepEqual(Buffer.concat(wire), Buffer.concat([message, Buffer.alloc(4)]));
  });

  test('a line holding a newline: LINEDROP_ERR_INVALID_LINE naming it, the connection closed, nothing stored', async (t) => {
    const s = await withServer(t);
    const client = await LinedropClient.connect({ host: HOST, port: s.port });
    assert.equal(await client.sendLines(['before']), 'A');
    async function* typed(): AsyncGenerator<string> {
      yield 'one';
      yield 'two\nthree';
      yield 'four';
    }
    await assert.rejects(
      client.sendLineStream(3, typed()),
      (e: unknown) =>
        e instanceof TypeError &&
        (e as { code?: string }).code === 'LINEDROP_ERR_INVALID_LINE' &&
        /line 2 /.test(e.message),
    );
    await within(client.whenClosed(), 10_000, 'the connection closed by the client');
    await s.server.idle();
    assert.deepEqual(await listDir(s.dir), ['1.txt']);
    assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'before\n');
  });

  test(
    'lines that run out before the count: LINEDROP_ERR_FILE_CHANGED saying how many came, the ' +
      'connection closed, nothing stored',
    async (t) => {
      const s = await withServer(t);
      const client = await LinedropClient.connect({ host: HOST, port: s.port });
      async function* typed(): AsyncGenerator<string> {
        yield 'only one';
      }
      await assert.rejects(
        client.sendLineStream(3, typed()),
        (e: unknown) =>
          e instanceof ClientError && e.code === 'LINEDROP_ERR_FILE_CHANGED' && /ran out after 1 of 3/.test(e.message),
      );
      await within(client.whenClosed(), 10_000, 'the connection closed by the client');
      await s.server.idle();
      assert.deepEqual(await listDir(s.dir), []);
    },
  );
});
