// Access control: the allowlist, TLS and mutual TLS (certificates made here with openssl).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClientError, LinedropClient, type RefusedEvent } from '../../src/index.js';
import { AllowList, normalizeAddress } from '../../src/server/index.js';
import { HOST, QUIT, RawPeer, frame, listDir, removeDir, runServer, tempDir } from '../support.js';

describe('allowlist', () => {
  test('AllowList matches addresses and CIDR ranges, IPv4-mapped IPv6 as IPv4', () => {
    const list = new AllowList(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32']);
    assert.equal(list.allows('10.200.3.4'), true);
    assert.equal(list.allows('::ffff:10.1.2.3'), true);
    assert.equal(list.allows('11.0.0.1'), false);
    assert.equal(list.allows('192.168.1.7'), true);
    assert.equal(list.allows('192.168.1.8'), false);
    assert.equal(list.allows('2001:db8:1::5'), true);
    assert.equal(list.allows('2001:db9::5'), false);
    assert.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.throws(() => new AllowList(['10.0.0.0/33']), TypeError);
    assert.throws(() => new AllowList(['not-an-address']), TypeError);
  });

  test('a client outside the allowlist is closed on connect, without a status byte, and logged', async () => {
    const warnings: string[] = [];
    const logger = {
      info: () => undefined,
      error: () => undefined,
      warn: (_: object, msg: string) => void warnings.push(msg),
    };
    const s = await runServer({ allow: ['10.0.0.0/8'], logger });
    try {
      const refused = new Promise<RefusedEvent>((resolve) => s.server.once('connectionRefused', resolve));
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([frame(['not allowed']), QUIT])).catch(() => undefined);
      assert.equal(await peer.waitClosed(), true);
      assert.equal(peer.received.length, 0);
      assert.equal((await refused).reason, 'not-allowed');
      assert.ok(warnings.some((w) => /not in the allowlist/.test(w)));
      assert.deepEqual(await listDir(s.dir), []);
    } finally {
      await s.close();
    }
  });

  test('a client inside the allowlist is served', async () => {
    const s = await runServer({ allow: ['127.0.0.0/8'] });
    try {
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([frame(['allowed']), QUIT]));
      assert.equal(await peer.statuses(2), 'AQ');
    } finally {
      await s.close();
    }
  });
});

describe('TLS', () => {
  let dir = '';
  const pem: Record<string, Buffer> = {};

  before(async () => {
    dir = await tempDir('linedrop-tls-');
    const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=linedrop test CA');
    ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    ssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    );
    ssl('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=student');
    ssl(
      'x509',
      '-req',
      '-in',
      'client.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'client.crt',
      '-days',
      '2',
    );
    ssl('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.crt', '-days', '2', '-subj', '/CN=someone else');
    for (const name of ['ca.crt', 'server.key', 'server.crt', 'client.key', 'client.crt', 'other.key', 'other.crt']) {
      pem[name] = await readFile(join(dir, name));
    }
  });

  after(async () => {
    await removeDir(dir);
  });

  test('files go over TLS, byte for byte', async () => {
    const s = await runServer({ tls: { cert: pem['server.crt']!, key: pem['server.key']! } });
    try {
      const client = await LinedropClient.connect({ host: HOST, port: s.port, tls: { ca: pem['ca.crt']! } });
      assert.equal(await client.sendLines(['secret', 'lines\r']), 'A');
      assert.equal(await client.quit(), 'Q');
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'secret\nlines\r\n');
    } finally {
      await s.close();
    }
  });

  test('a client that does not trust the server certificate fails to connect', async () => {
    const s = await runServer({ tls: { cert: pem['server.crt']!, key: pem['server.key']! } });
    try {
      await assert.rejects(
        LinedropClient.connect({ host: HOST, port: s.port, tls: { ca: pem['other.crt']! } }),
        (e: unknown) => e instanceof ClientError && e.code === 'LINEDROP_ERR_CONNECT',
      );
    } finally {
      await s.close();
    }
  });

  test('a plain-TCP lab client gets nothing saved from a TLS server', async () => {
    const s = await runServer({ tls: { cert: pem['server.crt']!, key: pem['server.key']! } });
    try {
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([frame(['plain']), QUIT])).catch(() => undefined);
      assert.equal(await peer.waitClosed(), true);
      assert.doesNotMatch(String.fromCharCode(...peer.received), /A/);
      assert.deepEqual(await listDir(s.dir), []);
    } finally {
      await s.close();
    }
  });

  test('mutual TLS: a client certificate signed by the CA is required', async () => {
    const s = await runServer({ tls: { cert: pem['server.crt']!, key: pem['server.key']!, clientCa: pem['ca.crt']! } });
    try {
      const good = await LinedropClient.connect({
        host: HOST,
        port: s.port,
        tls: { ca: pem['ca.crt']!, cert: pem['client.crt']!, key: pem['client.key']! },
      });
      assert.equal(await good.sendLines(['with a certificate']), 'A');
      assert.equal(await good.quit(), 'Q');

      // No certificate, or one the CA did not sign: refused, nothing saved.
      for (const tls of [
        { ca: pem['ca.crt']! },
        { ca: pem['ca.crt']!, cert: pem['other.crt']!, key: pem['other.key']! },
      ]) {
        const outcome = await LinedropClient.connect({ host: HOST, port: s.port, tls })
          .then(async (client) =>
            client.sendLines(['without']).then(
              (status) => `status ${status}`,
              (e: Error) => `refused: ${e.message}`,
            ),
          )
          .catch((e: Error) => `refused: ${e.message}`);
        assert.match(outcome, /^refused/);
      }
      assert.deepEqual(await listDir(s.dir), ['1.txt']);
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'with a certificate\n');
    } finally {
      await s.close();
    }
  });
});
