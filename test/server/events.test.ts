// The server's life-cycle events, as on `net.Server`: `listening` once it accepts connections,
// `error` for a failure of the listening socket, `close` once it has stopped and every connection
// has ended.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { LinedropServer, type LinedropServerEvents } from '../../src/index.js';
import { HOST, RawPeer, frame, removeDir, tempDir, within } from '../support.js';

/** A temporary folder, and a port another server listens on; both gone when the test ends. */
async function portInUse(t: TestContext): Promise<{ dir: string; port: number }> {
  const dir = await tempDir();
  t.after(() => removeDir(dir));
  const taken = createServer();
  taken.listen(0, HOST);
  await once(taken, 'listening');
  t.after(() => taken.close());
  return { dir, port: (taken.address() as { port: number }).port };
}

describe('server events, as on net.Server', () => {
  test('listening, then close once close() has ended every connection', async (t) => {
    const dir = await tempDir();
    t.after(() => removeDir(dir));
    const server = new LinedropServer({ dir });
    const seen: string[] = [];
    server.on('listening', () => seen.push(`listening ${server.listening}`));
    server.on('connectionClosed', (e) => seen.push(`connection closed: ${e.reason}`));
    server.on('close', () => seen.push(`close ${server.listening}`));
    const listened = once(server, 'listening');
    const { port } = await server.listen(0, HOST);
    await listened;
    assert.deepEqual(seen, ['listening true']);

    const peer = await RawPeer.connect(port);
    await peer.write(frame(['kept']));
    assert.equal(await peer.statuses(1), 'A');
    const closed = once(server, 'close');
    await server.close();
    await closed;
    assert.deepEqual(seen, ['listening true', 'connection closed: server-closed', 'close false']);
    peer.destroy();
  });

  test('close after a graceful shutdown, once the connection between messages is closed', async (t) => {
    const dir = await tempDir();
    t.after(() => removeDir(dir));
    const server = new LinedropServer({ dir });
    const { port } = await server.listen(0, HOST);
    let closes = 0;
    server.on('close', () => closes++);
    const closed = once(server, 'close');
    const peer = await RawPeer.connect(port);
    await peer.write(frame(['one']));
    assert.equal(await peer.statuses(1), 'A');
    await server.shutdown(30_000);
    assert.equal(await peer.waitClosed(), true);
    await within(closed, 10_000, "the server's close event");
    assert.equal(closes, 1);
    peer.destroy();
  });

  test('error: a port in use is emitted to an error listener and rejects listen() with the same error', async (t) => {
    const { dir, port } = await portInUse(t);

    const server = new LinedropServer({ dir });
    const errors: Error[] = [];
    server.on('error', (err) => errors.push(err));
    const rejected = await server.listen(port, HOST).then(
      () => assert.fail('listened on a port in use'),
      (err: NodeJS.ErrnoException) => err,
    );
    assert.equal(rejected.code, 'EADDRINUSE');
    assert.deepEqual(errors, [rejected]);
    assert.equal(server.listening, false);
  });

  test('error: without an error listener, listen() rejects and nothing is thrown elsewhere', async (t) => {
    const { dir, port } = await portInUse(t);
    const server = new LinedropServer({ dir });
    await assert.rejects(server.listen(port, HOST), { code: 'EADDRINUSE' });
  });

  test('the events are typed: listening and close carry nothing, error an Error', () => {
    const events: (keyof LinedropServerEvents)[] = [
      'listening',
      'error',
      'close',
      'connectionOpened',
      'connectionRefused',
      'file',
      'connectionClosed',
    ];
    const argsOf = <K extends keyof LinedropServerEvents>(_event: K, ...args: LinedropServerEvents[K]): number =>
      args.length;
    assert.equal(argsOf('listening'), 0);
    assert.equal(argsOf('close'), 0);
    assert.equal(argsOf('error', new Error('x')), 1);
    // @ts-expect-error: 'listening' carries no argument
    argsOf('listening', 1);
    // @ts-expect-error: 'error' carries an Error
    argsOf('error', 'text');
    assert.equal(events.length, 7);
  });
});
