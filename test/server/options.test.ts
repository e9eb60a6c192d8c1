// Options are checked once, when the server is made, in the command line's words: a library user
// gets a clear error from `new LinedropServer()`, never a crash at the first connection.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LinedropServer, type ServerOptions } from '../../src/index.js';
import { QUIT, RawPeer, frame, removeDir, runServer, tempDir } from '../support.js';

const BAD: [ServerOptions, RegExp][] = [
  [
    { limits: { maxLineBytes: -1 } },
    /^limits\.maxLineBytes: expected a whole number from 0 to 9007199254740991, not -1$/,
  ],
  [
    { limits: { maxLines: 2 ** 32 } },
    /^limits\.maxLines: expected a whole number from 0 to 4294967295, not 4294967296$/,
  ],
  [
    { limits: { maxMessageBytes: 1.5 } },
    /^limits\.maxMessageBytes: expected a whole number from 0 to 9007199254740991, not 1\.5$/,
  ],
  [{ limits: { maxLines: Number.NaN } }, /^limits\.maxLines: expected a whole number from 0 to 4294967295, not NaN$/],
  [{ maxConnections: 0 }, /^maxConnections: expected a whole number from 1 to 1000000, not 0$/],
  [{ maxConnectionsPerAddress: -3 }, /^maxConnectionsPerAddress: expected a whole number from 1 to 1000000, not -3$/],
  [{ idleTimeoutMs: -1 }, /^idleTimeoutMs: expected a number of milliseconds from 0 to 86400000 \(0: never\), not -1$/],
  [
    { idleTimeoutMs: 2 ** 31 },
    /^idleTimeoutMs: expected a number of milliseconds from 0 to 86400000 \(0: never\), not 2147483648$/,
  ],
  [{ handshakeTimeoutMs: 0 }, /^handshakeTimeoutMs: expected a number of milliseconds from 1 to 86400000, not 0$/],
  [{ maxInFlight: 1025 }, /^maxInFlight: expected a whole number from 1 to 1024, not 1025$/],
  [{ layout: 'flatt' as 'flat' }, /^layout: expected "flat" or "session", not "flatt"$/],
  [{ instanceId: 'a/b' }, /^instanceId: expected 1 to 64 letters, digits/],
  [{ allow: ['10.0.0.0/8', 'nonsense'] }, /^not an IP address or CIDR range: "nonsense"$/],
  [
    { tls: { cert: 'x', key: 'y' }, proxyProtocol: true },
    /^the PROXY protocol and TLS cannot be combined: terminate TLS at the proxy$/,
  ],
];

/** Options of the wrong type: a TypeError, worded as for a value out of range. */
const WRONG_TYPE: [ServerOptions, string][] = [
  [{ maxConnections: '5' as unknown as number }, 'maxConnections: expected a whole number from 1 to 1000000, not "5"'],
  [
    { idleTimeoutMs: null as unknown as number },
    'idleTimeoutMs: expected a number of milliseconds from 0 to 86400000 (0: never), not null',
  ],
  [
    { limits: { maxLines: true as unknown as number } },
    'limits.maxLines: expected a whole number from 0 to 4294967295, not true',
  ],
];

/** Options that cannot go together: a TypeError naming both and what to do. */
const CONFLICTS: [ServerOptions, string][] = [
  [
    { dir: 'x', s3: { bucket: 'b' } },
    's3 and dir cannot be combined: files go to the bucket or to the folder; drop one',
  ],
  [
    { storage: {} as ServerOptions['storage'], layout: 'session' },
    'storage and layout cannot be combined: storage is where files go; give layout to the storage ' +
      'you make, or drop storage',
  ],
  [
    { storage: {} as ServerOptions['storage'], dir: 'x' },
    'storage and dir cannot be combined: storage is where files go; give dir to the storage you make, or drop storage',
  ],
  [
    { storage: {} as ServerOptions['storage'], instanceId: 'a' },
    'storage and instanceId cannot be combined: storage is where files go; give instanceId to the ' +
      'storage you make, or drop storage',
  ],
];

describe('server options', () => {
  for (const [options, message] of WRONG_TYPE) {
    test(`a TypeError for a value of the wrong type: ${message}`, () => {
      assert.throws(() => new LinedropServer({ dir: 'unused', ...options }), { name: 'TypeError', message });
    });
  }

  for (const [options, message] of CONFLICTS) {
    test(`options that cannot be combined throw instead of one silently winning: ${message.split(':')[0]}`, () => {
      assert.throws(() => new LinedropServer(options), { name: 'TypeError', message });
    });
  }

  test('a number out of range is a RangeError', () => {
    assert.throws(() => new LinedropServer({ dir: 'unused', maxConnections: 0 }), RangeError);
  });

  for (const [options, message] of BAD) {
    test(`refused when the server is made: ${JSON.stringify(options)}`, () => {
      assert.throws(() => new LinedropServer({ dir: 'unused', ...options }), { message });
    });
  }

  test('startServer rejects (nothing listens, no folder is made) instead of crashing at the first connection', async () => {
    const parent = await tempDir();
    try {
      // Were it to start, it is closed at once, so the test fails rather than hangs.
      const started = runServer({ dir: `${parent}/uploads`, limits: { maxLineBytes: -1 } }).then(
        async (s) => (await s.close(), s),
      );
      await assert.rejects(started, RangeError);
    } finally {
      await removeDir(parent);
    }
  });

  test('limits at the edges of their ranges are served', async () => {
    const s = await runServer({
      limits: { maxLines: 0xffff_ffff, maxLineBytes: 0, maxMessageBytes: Number.MAX_SAFE_INTEGER },
      maxConnections: 1,
      idleTimeoutMs: 0,
    });
    try {
      const peer = await RawPeer.connect(s.port);
      await peer.write(Buffer.concat([frame(['', '']), QUIT]));
      assert.equal(await peer.statuses(2), 'AQ');
      peer.destroy();
    } finally {
      await s.close();
    }
  });
});
