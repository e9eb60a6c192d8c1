import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ProxyProtocolError, type RefusedEvent } from '../../src/index.js';
import { parseProxyHeader, proxyHeaderV1, proxyHeaderV2 } from '../../src/server/index.js';
import { QUIT, RawPeer, frame, listDir, runServer } from '../support.js';

const SOURCE = { address: '203.0.113.9', port: 40123 };
const DEST = { address: '198.51.100.1', port: 12100 };

describe('PROXY protocol parser', () => {
  test('v1 TCP4, TCP6 and UNKNOWN, whole and a byte at a time', () => {
    const cases: [Buffer, unknown][] = [
      [proxyHeaderV1(SOURCE, DEST), { version: 1, source: SOURCE, destination: DEST }],
      [
        Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 5000 12100\r\n'),
        {
          version: 1,
          source: { address: '2001:db8::1', port: 5000 },
          destination: { address: '2001:db8::2', port: 12100 },
        },
      ],
      [Buffer.from('PROXY UNKNOWN\r\n'), { version: 1 }],
    ];
    for (const [bytes, header] of cases) {
      const withData = Buffer.concat([bytes, Buffer.from([0, 0, 0, 1])]);
      assert.deepEqual(parseProxyHeader(withData), { done: true, header, length: bytes.length });
      for (let i = 0; i < bytes.length; i++)
        assert.deepEqual(parseProxyHeader(bytes.subarray(0, i)), { done: false }, `prefix ${i}`);
    }
  });

  test('v2 PROXY over IPv4 and IPv6, and LOCAL', () => {
    const v4 = proxyHeaderV2(SOURCE, DEST);
    assert.deepEqual(parseProxyHeader(Buffer.concat([v4, Buffer.from('rest')])), {
      done: true,
      header: { version: 2, source: SOURCE, destination: DEST },
      length: 28,
    });
    for (let i = 0; i < v4.length; i++) assert.deepEqual(parseProxyHeader(v4.subarray(0, i)), { done: false });

    const v6 = Buffer.alloc(16 + 36);
    v4.copy(v6, 0, 0, 12);
    v6[12] = 0x21;
    v6[13] = 0x21;
    v6.writeUInt16BE(36, 14);
    Buffer.from('20010db8000000000000000000000001', 'hex').copy(v6, 16);
    Buffer.from('20010db8000000000000000000000002', 'hex').copy(v6, 32);
    v6.writeUInt16BE(5000, 48);
    v6.writeUInt16BE(12100, 50);
    assert.deepEqual(parseProxyHeader(v6), {
      done: true,
      header: {
        version: 2,
        source: { address: '2001:db8::1', port: 5000 },
        destination: { address: '2001:db8::2', port: 12100 },
      },
      length: 52,
    });

    const local = Buffer.from(v4.subarray(0, 16));
    local[12] = 0x20;
    local.writeUInt16BE(0, 14);
    assert.deepEqual(parseProxyHeader(local), { done: true, header: { version: 2 }, length: 16 });
  });

  test('a v1 source or destination that is not an IP address of its family is refused', () => {
    for (const bad of [
      'PROXY TCP4 not-an-ip 10.0.0.1 4000 12100\r\n',
      'PROXY TCP4 10.0.0.1 not-an-ip 4000 12100\r\n',
      'PROXY TCP4 2001:db8::1 10.0.0.1 4000 12100\r\n',
      'PROXY TCP6 10.0.0.1 2001:db8::2 4000 12100\r\n',
      'PROXY TCP4 10.0.0.256 10.0.0.1 4000 12100\r\n',
    ]) {
      assert.throws(() => parseProxyHeader(Buffer.from(bad, 'latin1')), /not an IPv[46] address/, JSON.stringify(bad));
    }
  });

  test('anything else is refused', () => {
    for (const bad of [
      '\x00\x00\x00\x01',
      'GET / HTTP/1.1\r\n',
      'PROXY TCP4 1.2.3.4\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n',
      `PROXY ${'x'.repeat(120)}`,
    ]) {
      assert.throws(() => parseProxyHeader(Buffer.from(bad, 'latin1')), ProxyProtocolError, JSON.stringify(bad));
    }
  });
});

describe('server behind a proxy', () => {
  for (const [name, header] of [
    ['v1', proxyHeaderV1(SOURCE, DEST)],
    ['v2', proxyHeaderV2(SOURCE, DEST)],
  ] as const) {
    test(`${name}: the header names the client; messages in the same write are served`, async () => {
      const opened: string[] = [];
      const s = await runServer({ proxyProtocol: true });
      s.server.on('connectionOpened', (e) => opened.push(e.remote));
      try {
        const peer = await RawPeer.connect(s.port);
        await peer.write(Buffer.concat([header, frame(['through the proxy']), QUIT]));
        assert.equal(await peer.statuses(2), 'AQ');
        assert.deepEqual(opened, ['203.0.113.9:40123']);
        assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'through the proxy\n');
      } finally {
        await s.close();
      }
    });
  }

  test('the header sent a byte at a time, then the message', async () => {
    const s = await runServer({ proxyProtocol: true });
    try {
      const peer = await RawPeer.connect(s.port);
      for (const byte of proxyHeaderV1(SOURCE, DEST)) await peer.write(Buffer.from([byte]));
      await peer.write(Buffer.concat([frame(['slow header']), QUIT]));
      assert.equal(await peer.statuses(2), 'AQ');
    } finally {
      await s.close();
    }
  });

  test('the allowlist and the per-address limit see the real client', async () => {
    const refused: RefusedEvent[] = [];
    const s = await runServer({ proxyProtocol: true, allow: ['203.0.113.0/24'], maxConnectionsPerAddress: 1 });
    s.server.on('connectionRefused', (e) => refused.push(e));
    try {
      const inside = await RawPeer.connect(s.port);
      await inside.write(Buffer.concat([proxyHeaderV1(SOURCE, DEST), frame(['allowed by its real address'])]));
      assert.equal(await inside.statuses(1), 'A');
      // A second connection from the same real client passes the per-address limit of 1.
      const second = await RawPeer.connect(s.port);
      await second.write(proxyHeaderV1({ address: SOURCE.address, port: 40124 }, DEST));
      assert.equal(await second.waitClosed(), true);
      const outside = await RawPeer.connect(s.port);
      await outside
        .write(Buffer.concat([proxyHeaderV1({ address: '192.0.2.50', port: 1 }, DEST), frame(['refused'])]))
        .catch(() => undefined);
      assert.equal(await outside.waitClosed(), true);
      assert.equal(outside.received.length, 0);
      assert.deepEqual(
        refused.map((r) => [r.remote, r.reason]),
        [
          ['203.0.113.9:40124', 'too-many-from-address'],
          ['192.0.2.50:1', 'not-allowed'],
        ],
      );
      await inside.write(QUIT);
      assert.equal(await inside.statuses(2), 'AQ');
    } finally {
      await s.close();
    }
  });

  test(
    'a v1 header whose source is not an IP address: closed before any message, refused as ' +
      'proxy-header, nothing saved',
    async () => {
      const s = await runServer({ proxyProtocol: true });
      const refused: RefusedEvent[] = [];
      s.server.on('connectionRefused', (e) => refused.push(e));
      try {
        const peer = await RawPeer.connect(s.port);
        await peer
          .write(Buffer.concat([Buffer.from('PROXY TCP4 not-an-ip 10.0.0.1 4000 12100\r\n'), frame(['spoofed']), QUIT]))
          .catch(() => undefined);
        assert.equal(await peer.waitClosed(), true);
        assert.equal(peer.received.length, 0);
        assert.deepEqual(
          refused.map((r) => r.reason),
          ['proxy-header'],
        );
        assert.deepEqual(await listDir(s.dir), []);
      } finally {
        await s.close();
      }
    },
  );

  test('a connection without the header is closed, nothing saved', async () => {
    const s = await runServer({ proxyProtocol: true });
    try {
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([frame(['no header']), QUIT])).catch(() => undefined);
      assert.equal(await peer.waitClosed(), true);
      assert.equal(peer.received.length, 0);
      assert.deepEqual(await listDir(s.dir), []);
    } finally {
      await s.close();
    }
  });
});
