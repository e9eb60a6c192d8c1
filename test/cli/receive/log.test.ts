// The server's log and its --json events, read as a person and as a program reads them.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { linedrop } from '../run.js';
import { frame, freePort, HOST, QUIT, RawPeer, removeDir, tempDir, until } from '../../support.js';

type Line = Record<string, unknown>;
const lines = (text: string): Line[] =>
  text
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);

describe('receive: logs and events', () => {
  test('log lines and --json events use the same field names; sizes and durations are readable', async () => {
    const dir = await tempDir();
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
        '--shutdown-deadline',
        '2500ms',
      ]);
      assert.equal(await until(() => run.stdoutText().includes('"listening"')), true);
      const peer = await RawPeer.connect(port);
      await peer.write(Buffer.concat([frame(['x'.repeat(2047)]), QUIT]));
      assert.equal(await peer.statuses(2), 'AQ');
      assert.equal(await until(() => run.stdoutText().includes('"closed"')), true);
      run.kill('SIGTERM');
      const { code, stdout, stderr } = await run.done;
      assert.equal(code, 0, stderr);
      const events = lines(stdout);
      const logs = lines(stderr);

      const fileEvent = events.find((e) => e['event'] === 'file')!;
      const fileLog = logs.find((l) => typeof l['msg'] === 'string' && (l['msg'] as string).includes('saved'))!;
      for (const key of ['connection', 'file', 'path', 'lines', 'bytes', 'ms']) {
        assert.ok(key in fileEvent, `the file event has ${key}`);
        assert.ok(key in fileLog, `the file log line has ${key}`);
      }
      assert.equal(fileEvent['file'], '1.txt');
      assert.equal(fileLog['file'], '1.txt');
      assert.equal(fileEvent['bytes'], 2048);
      assert.equal(fileLog['bytes'], 2048);
      assert.equal(fileLog['connection'], fileEvent['connection']);
      assert.match(fileLog['msg'] as string, /^connection 1: saved 1\.txt \(1 line, 2\.0 KiB\) in \d+(\.\d)? m?s$/);

      const closedEvent = events.find((e) => e['event'] === 'closed')!;
      const closedLog = logs.find((l) => typeof l['msg'] === 'string' && (l['msg'] as string).includes('closed ('))!;
      for (const key of ['connection', 'remote', 'reason', 'files', 'bytes', 'ms']) {
        assert.ok(key in closedEvent, `the closed event has ${key}`);
        assert.ok(key in closedLog, `the closed log line has ${key}`);
      }
      assert.match(closedLog['msg'] as string, /: 1 file, 2\.0 KiB, \d+(\.\d)? m?s$/);
      assert.equal(
        logs.some((l) => 'conn' in l),
        false,
        'no log line says conn',
      );

      const stopping = logs.find((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('SIGTERM'))!;
      assert.equal(stopping['msg'], 'SIGTERM: stopping; 0 connections open');
      const summaryLog = logs.find(
        (l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('stopped after'),
      )!;
      assert.match(
        summaryLog['msg'] as string,
        /^stopped after \d+(\.\d)? m?s: 1 connection, 1 file saved \(2\.0 KiB\), 0 ended abnormally, 0 refused$/,
      );
      const summaryEvent = events.find((e) => e['event'] === 'summary')!;
      for (const key of ['connections', 'files', 'bytes', 'ms']) {
        assert.equal(summaryEvent[key], summaryLog[key], `the summary's ${key} is the same in the log and the event`);
      }
    } finally {
      await removeDir(dir);
    }
  });

  test('the shutdown deadline is printed in the unit it was given in', async () => {
    const dir = await tempDir();
    try {
      const port = await freePort();
      const run = linedrop([
        'receive',
        '--port',
        String(port),
        '--host',
        HOST,
        '--dir',
        join(dir, 'in'),
        '--log-format',
        'json',
        '--shutdown-deadline',
        '10',
      ]);
      assert.equal(await until(() => run.stderrText().includes('listening')), true);
      const peer = await RawPeer.connect(port);
      await peer.write(frame(['one line of a message still in progress'], 2));
      assert.equal(await until(() => run.stderrText().includes('connection 1 from')), true);
      run.kill('SIGTERM');
      assert.equal(await until(() => run.stderrText().includes('SIGTERM')), true);
      assert.match(
        run.stderrText(),
        /SIGTERM: stopping; 1 connection open, messages in progress may finish within 10 s/,
      );
      peer.destroy();
      assert.equal((await run.done).code, 0);
    } finally {
      await removeDir(dir);
    }
  });
});
