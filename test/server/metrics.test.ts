// The Prometheus metrics and the health check (src/server/metrics.ts): exact counts after a known
// sequence of uploads, a rejection and a refusal; /healthz before, while and after listening; and
// `receive --metrics` on the command line.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LinedropServer, MetricsServer } from '../../src/index.js';
import { createMetrics } from '../../src/server/index.js';
import { parseListenAddress } from '../../src/server/metrics.js';
import { isTempName } from '../../src/storage/file-sink.js';
import { linedrop } from '../cli/run.js';
import { HOST, QUIT, RawPeer, frame, freePort, listDir, removeDir, runServer, tempDir, until } from '../support.js';

/** The samples of an exposition text: `name{labels}` -> value (comments skipped). */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

async function scrape(base: string): Promise<Map<string, number>> {
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

function value(samples: Map<string, number>, key: string): number | undefined {
  return samples.get(key);
}

describe('metrics', () => {
  test('exact counts: files accepted, a rejection for a limit, a refused connection, bytes, durations', async () => {
    const s = await runServer({ limits: { maxLines: 2 }, maxConnections: 1 });
    const endpoint = await MetricsServer.start(s.server, { host: HOST, port: 0 });
    try {
      const base = endpoint.url;
      assert.equal(base, `http://${HOST}:${endpoint.address().port}`);
      const before = await scrape(base);
      assert.equal(value(before, 'linedrop_files_accepted_total'), 0);
      assert.equal(
        value(before, 'linedrop_connections_refused_total{reason="too-many-connections"}'),
        0,
        'known labels start at 0',
      );

      // Connection 1: two files accepted, and it stays open...
      const first = await RawPeer.connect(s.port);
      await first.write(Buffer.concat([frame(['one']), frame(['two', 'lines'])]));
      assert.equal(await first.statuses(2), 'AA');
      // ...so a second connection is over --max-connections 1 and is refused.
      const refused = await RawPeer.connect(s.port);
      assert.equal(await refused.waitClosed(), true);
      assert.equal(refused.received.length, 0);
      const during = await scrape(base);
      assert.equal(value(during, 'linedrop_connections_open'), 1);
      // Connection 1 then sends three lines, over --max-lines 2: R, closed.
      await first.write(frame(['a', 'b', 'c']));
      assert.equal(await first.statuses(3), 'AAR');
      assert.equal(await first.waitClosed(), true);
      assert.equal(await until(() => s.server.connections === 0), true);
      // Connection 3: one file and the quit.
      const third = await RawPeer.connect(s.port);
      await third.write(Buffer.concat([frame(['three']), QUIT]));
      assert.equal(await third.statuses(2), 'AQ');
      assert.equal(await until(() => s.server.connections === 0), true);
      first.destroy();
      refused.destroy();
      third.destroy();

      const m = await scrape(base);
      const expected: Record<string, number> = {
        linedrop_listening: 1,
        linedrop_connections_open: 0,
        linedrop_connections_total: 2,
        'linedrop_connections_closed_total{reason="quit"}': 1,
        'linedrop_connections_closed_total{reason="rejected"}': 1,
        'linedrop_connections_closed_total{reason="client-closed"}': 0,
        'linedrop_connections_refused_total{reason="too-many-connections"}': 1,
        'linedrop_connections_refused_total{reason="not-allowed"}': 0,
        linedrop_files_accepted_total: 3,
        'linedrop_files_rejected_total{reason="rejected",code="LINEDROP_ERR_TOO_MANY_LINES"}': 1,
        'linedrop_files_rejected_total{reason="truncated",code="LINEDROP_ERR_TRUNCATED"}': 0,
        // "one\n" + "two\nlines\n" + "three\n"
        linedrop_received_bytes_total: 4 + 10 + 6,
        'linedrop_limits_hit_total{limit="max-lines"}': 1,
        'linedrop_limits_hit_total{limit="max-connections"}': 1,
        'linedrop_limits_hit_total{limit="max-line-bytes"}': 0,
        linedrop_message_duration_seconds_count: 3,
        'linedrop_message_duration_seconds_bucket{le="+Inf"}': 3,
        linedrop_commit_duration_seconds_count: 3,
      };
      for (const [key, want] of Object.entries(expected)) assert.equal(value(m, key), want, key);
      assert.ok((value(m, 'linedrop_commit_duration_seconds_sum') ?? 0) > 0, 'a commit takes some time');
      assert.ok(
        (value(m, 'linedrop_commit_duration_seconds_sum') ?? 0) <=
          (value(m, 'linedrop_message_duration_seconds_sum') ?? 0) + 0.003,
        'commit time is part of message time',
      );
      assert.ok(value(m, 'process_cpu_user_seconds_total') !== undefined, 'the process metrics are there too');

      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(await health.text(), 'ok\n');
      assert.equal((await fetch(`${base}/nope`)).status, 404);
      assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
    } finally {
      await endpoint.close();
      await s.close();
    }
  });

  test('refusals by the allowlist and truncated messages are counted by reason and code', async () => {
    const allowed = await runServer({});
    const closed = await runServer({ allow: ['192.0.2.0/24'] });
    const a = createMetrics(allowed.server, { processMetrics: false });
    const b = createMetrics(closed.server, { processMetrics: false });
    try {
      const peer = await RawPeer.connect(closed.port);
      assert.equal(await peer.waitClosed(), true);
      peer.destroy();
      const cut = await RawPeer.connect(allowed.port);
      await cut.write(Buffer.concat([frame(['whole']), frame(['only one of two'], 2)]));
      assert.equal(await cut.statuses(1), 'A');
      cut.socket.end();
      assert.equal(await until(() => allowed.server.connections === 0), true);
      const ma = parseMetrics(await a.text());
      const mb = parseMetrics(await b.text());
      assert.equal(value(mb, 'linedrop_connections_refused_total{reason="not-allowed"}'), 1);
      assert.equal(value(mb, 'linedrop_connections_total'), 0);
      assert.equal(
        value(ma, 'linedrop_connections_refused_total{reason="not-allowed"}'),
        0,
        'each server has its own registry',
      );
      assert.equal(value(ma, 'linedrop_files_rejected_total{reason="truncated",code="LINEDROP_ERR_TRUNCATED"}'), 1);
      assert.equal(value(ma, 'linedrop_connections_closed_total{reason="truncated"}'), 1);
      assert.equal(value(ma, 'linedrop_files_accepted_total'), 1);
      assert.equal(value(ma, 'process_cpu_user_seconds_total'), undefined, 'processMetrics: false');
      a.detach();
      const again = await RawPeer.connect(allowed.port);
      await again.write(Buffer.concat([frame(['after detach']), QUIT]));
      assert.equal(await again.statuses(2), 'AQ');
      again.destroy();
      assert.equal(
        value(parseMetrics(await a.text()), 'linedrop_files_accepted_total'),
        1,
        'detached metrics stop counting',
      );
    } finally {
      await allowed.close();
      await closed.close();
    }
  });

  test('/healthz: 503 before listening, 200 while listening, 503 as soon as a shutdown starts', async () => {
    const dir = await tempDir();
    const server = new LinedropServer({ dir });
    const endpoint = await MetricsServer.start(server, { host: HOST, port: 0 });
    try {
      assert.equal((await fetch(`${endpoint.url}/healthz`)).status, 503, 'not listening yet');
      await server.listen(0, HOST);
      assert.equal((await fetch(`${endpoint.url}/healthz`)).status, 200);
      // A message in progress keeps the shutdown going while /healthz is asked.
      const peer = await RawPeer.connect(server.address().port);
      await peer.write(frame(['first line', 'second line']).subarray(0, 10));
      assert.equal(await until(async () => (await listDir(dir)).some(isTempName)), true, 'the message has started');
      const stopping = server.shutdown(5_000);
      const during = await fetch(`${endpoint.url}/healthz`);
      assert.equal(during.status, 503);
      assert.equal(await during.text(), 'not accepting connections\n');
      assert.equal(parseMetrics(await endpoint.metrics.text()).get('linedrop_listening'), 0);
      assert.equal(server.connections, 1, 'the shutdown was still in progress');
      await peer.write(frame(['first line', 'second line']).subarray(10));
      assert.equal(await peer.statuses(1), 'A');
      await stopping;
      peer.destroy();
      assert.equal((await fetch(`${endpoint.url}/healthz`)).status, 503);
    } finally {
      await endpoint.close();
      await server.close();
      await removeDir(dir);
    }
  });

  test('parseListenAddress: HOST:PORT, [IPv6]:PORT, PORT and :PORT', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListenAddress('[::1]:9464'), { host: '::1', port: 9464 });
    assert.deepEqual(parseListenAddress('metrics.local:0'), { host: 'metrics.local', port: 0 });
    assert.deepEqual(parseListenAddress('9464'), { port: 9464 });
    assert.deepEqual(parseListenAddress(':9464'), { port: 9464 });
    for (const bad of ['', 'host', 'host:', 'host:port', '1.2.3.4:70000', '::1:9464']) {
      assert.throws(() => parseListenAddress(bad), TypeError, bad);
    }
  });

  test(
    'receive --metrics: served while running, 503 on SIGTERM while a message finishes, bad ' +
      'values and a busy port refused',
    async () => {
      const dir = await tempDir();
      const busy = createServer();
      try {
        const port = await freePort();
        const run = linedrop([
          'receive',
          '--port',
          String(port),
          '--host',
          HOST,
          '--dir',
          dir,
          '--json',
          '--log-format',
          'json',
          '--metrics',
          `${HOST}:0`,
          '--instance-id',
          'metrics-test',
          '--layout',
          'session',
        ]);
        try {
          assert.equal(await until(() => run.stdoutText().includes('"listening"')), true, run.stderrText());
          const listening = JSON.parse(run.stdoutText().split('\n')[0]!) as { metrics: string; instance: string };
          assert.equal(listening.instance, 'metrics-test');
          assert.match(listening.metrics, /^http:\/\/127\.0\.0\.1:\d+$/);
          assert.equal((await fetch(`${listening.metrics}/healthz`)).status, 200);
          const peer = await RawPeer.connect(port);
          await peer.write(frame(['counted']));
          assert.equal(await peer.statuses(1), 'A');
          const m = parseMetrics(await (await fetch(`${listening.metrics}/metrics`)).text());
          assert.equal(m.get('linedrop_files_accepted_total'), 1);
          assert.equal(m.get('linedrop_connections_open'), 1);
          // SIGTERM with a message in progress: the health check fails at once, the message may finish.
          await peer.write(frame(['in', 'progress']).subarray(0, 6));
          const started = async (): Promise<boolean> => {
            for (const session of await listDir(dir))
              if ((await listDir(join(dir, session))).some(isTempName)) return true;
            return false;
          };
          assert.equal(await until(started), true, 'the second message has started');
          run.kill('SIGTERM');
          assert.equal(
            await until(async () => (await fetch(`${listening.metrics}/healthz`)).status === 503),
            true,
            'healthz 503 while shutting down',
          );
          await peer.write(frame(['in', 'progress']).subarray(6));
          assert.equal(await peer.statuses(2), 'AA');
          peer.destroy();
          const { code, stderr } = await run.done;
          assert.equal(code, 0);
          assert.match(stderr, /metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
          await assert.rejects(fetch(`${listening.metrics}/healthz`), 'the endpoint is closed after the exit');
        } finally {
          run.kill('SIGKILL');
        }

        const bad = await linedrop(['receive', '--metrics', 'nowhere']).done;
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /expected HOST:PORT/);

        busy.listen(0, HOST);
        await once(busy, 'listening');
        const busyPort = (busy.address() as { port: number }).port;
        const clash = await linedrop([
          'receive',
          '--port',
          '0',
          '--host',
          HOST,
          '--dir',
          dir,
          '--metrics',
          `${HOST}:${busyPort}`,
        ]).done;
        assert.equal(clash.code, 3);
        assert.match(clash.stderr, /cannot serve metrics on 127\.0\.0\.1:\d+: the port is in use/);
      } finally {
        busy.close();
        await removeDir(dir);
      }
    },
  );
});
