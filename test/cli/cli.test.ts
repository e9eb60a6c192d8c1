// The command line, run as a user runs it: `node bin/linedrop.js ...` with piped standard input.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { linedrop } from './run.js';
import { writeClass } from '../check/grade-fixtures/class.js';
import {
  HOST,
  QUIT,
  RawPeer,
  frame,
  freePort,
  listDir,
  removeDir,
  runServer,
  tempDir,
  until,
  withTempDir,
} from '../support.js';

const PROMPT = 'Enter the number of lines you want to send (0 to exit):';
const MENU = 'Select "(1-TS) tcpsend", or "(2-TR) tcpreceive":';

describe('linedrop command line', () => {
  for (const choice of ['1', 'TS', 'ts', 'tcpsend']) {
    test(`the menu: "${choice}" runs the interactive client`, async () => {
      const s = await runServer();
      try {
        const { done } = linedrop([], `${choice}\n2\nline one\nline two\n0\n`, {
          LINEDROP_PORT: String(s.port),
          LINEDROP_HOST: HOST,
        });
        const result = await done;
        assert.equal(result.code, 0, result.stderr);
        assert.equal(
          result.stdout,
          `${MENU}${PROMPT}Now enter all the lines of your message\nDone sending. Awaiting ` +
            `reply.\nFile accepted.\n${PROMPT}Server closing connection, as expected.\n`,
        );
        assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'line one\nline two\n');
      } finally {
        await s.close();
      }
    });
  }

  for (const choice of ['2', 'TR', 'tr', 'tcpreceive']) {
    test(`the menu: "${choice}" runs the lab server, which exits after one connection`, async () => {
      const dir = await tempDir();
      try {
        const port = await freePort();
        const run = linedrop(
          [],
          `${choice}\n`,
          { LINEDROP_PORT: String(port), LINEDROP_DIR: 'saved', LINEDROP_LOG_FORMAT: 'json' },
          dir,
        );
        assert.equal(await until(() => run.stderrText().includes('listening')), true, 'the server starts');
        const peer = await RawPeer.connect(port);
        await peer.write(Buffer.concat([frame(['via the menu']), QUIT]));
        assert.equal(await peer.statuses(2), 'AQ');
        const result = await run.done;
        assert.equal(result.code, 0, result.stderr);
        assert.ok(result.stdout.startsWith(MENU));
        assert.equal(await readFile(join(dir, 'saved', '1.txt'), 'utf8'), 'via the menu\n');
      } finally {
        await removeDir(dir);
      }
    });
  }

  test('the menu asks again after an unknown answer, and ends at the end of input', async () => {
    const result = await linedrop([], 'bogus\n').done;
    assert.equal(result.code, 2);
    assert.equal(result.stdout.split(MENU).length - 1, 2, 'the prompt is shown twice');
    assert.match(result.stdout, /Unknown operation "bogus"/);
  });

  test('interactive: a count that is not a number is asked again; end of input sends the quit', async () => {
    const s = await runServer();
    try {
      const result = await linedrop(['send', '--host', HOST, '--port', String(s.port)], 'many\n1\nok\n').done;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Please enter a whole number/);
      assert.match(result.stdout, /File accepted\.\n.*Server closing connection, as expected\.\n$/s);
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'ok\n');
    } finally {
      await s.close();
    }
  });

  test('interactive: input that ends in the middle of a message fails and saves nothing', async () => {
    const s = await runServer();
    try {
      const result = await linedrop(['send', '--host', HOST, '--port', String(s.port)], '3\nonly one line\n').done;
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /ran out after 1 of 3/);
      assert.equal(await until(() => s.server.connections === 0), true);
      assert.deepEqual(await listDir(s.dir), []);
    } finally {
      await s.close();
    }
  });

  test('send FILES: each file one message, standard input as -, exit 0', async () => {
    const s = await runServer();
    const files = await tempDir();
    try {
      await writeFile(join(files, 'a.txt'), 'a1\na2\n');
      const result = await linedrop(
        ['send', '--host', HOST, '--port', String(s.port), join(files, 'a.txt'), '-'],
        'from stdin',
      ).done;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /a\.txt: accepted as 1\.txt \(2 lines/);
      assert.match(result.stdout, /standard input: accepted as 2\.txt \(1 line/);
      assert.equal(await readFile(join(s.dir, '1.txt'), 'utf8'), 'a1\na2\n');
      assert.equal(await readFile(join(s.dir, '2.txt'), 'utf8'), 'from stdin\n');
    } finally {
      await s.close();
      await removeDir(files);
    }
  });

  test('send: an empty or missing file is refused before anything is sent (exit 2)', async () => {
    const s = await runServer();
    const files = await tempDir();
    let connections = 0;
    s.server.on('connectionOpened', () => connections++);
    try {
      await writeFile(join(files, 'good.txt'), 'good\n');
      await writeFile(join(files, 'empty.txt'), '');
      const empty = await linedrop([
        'send',
        '--host',
        HOST,
        '--port',
        String(s.port),
        join(files, 'good.txt'),
        join(files, 'empty.txt'),
      ]).done;
      assert.equal(empty.code, 2);
      assert.match(empty.stderr, /empty\.txt: has no lines; zero lines means "quit"/);
      const missing = await linedrop(['send', '--host', HOST, '--port', String(s.port), join(files, 'nope.txt')]).done;
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /nope\.txt: no such file/);
      assert.equal(connections, 0, 'nothing was sent');
      assert.deepEqual(await listDir(s.dir), []);
    } finally {
      await s.close();
      await removeDir(files);
    }
  });

  test('send: a rejected file gives exit 1 and says which files were not sent', async () => {
    const s = await runServer({ limits: { maxLines: 1 } });
    const files = await tempDir();
    try {
      await writeFile(join(files, 'one.txt'), 'x\n');
      await writeFile(join(files, 'two.txt'), 'x\ny\n');
      await writeFile(join(files, 'three.txt'), 'z\n');
      const result = await linedrop([
        'send',
        '--host',
        HOST,
        '--port',
        String(s.port),
        ...['one', 'two', 'three'].map((n) => join(files, `${n}.txt`)),
      ]).done;
      assert.equal(result.code, 1);
      assert.match(result.stdout, /one\.txt: accepted/);
      assert.match(result.stdout, /two\.txt: rejected by the server/);
      assert.match(result.stderr, /three\.txt: not stored: the server ends the connection after rejecting .*two\.txt/);
    } finally {
      await s.close();
      await removeDir(files);
    }
  });

  test('send: cannot connect gives exit 3', async () => {
    const port = await freePort();
    const files = await tempDir();
    try {
      await writeFile(join(files, 'a.txt'), 'a\n');
      const result = await linedrop(['send', '--host', HOST, '--port', String(port), join(files, 'a.txt')]).done;
      assert.equal(result.code, 3);
      assert.match(result.stderr, /cannot connect/);
    } finally {
      await removeDir(files);
    }
  });

  test('receive --once --layout session: saves, then exits after the first connection', async () => {
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
        '--once',
        '--layout',
        'session',
        '--log-format',
        'json',
      ]);
      assert.equal(await until(() => run.stderrText().includes('listening')), true);
      const peer = await RawPeer.connect(port);
      await peer.write(Buffer.concat([frame(['once']), QUIT]));
      assert.equal(await peer.statuses(2), 'AQ');
      const result = await run.done;
      assert.equal(result.code, 0);
      const [session] = await listDir(dir);
      assert.ok(session);
      assert.equal(await readFile(join(dir, session, '1.txt'), 'utf8'), 'once\n');
      const lines = result.stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string });
      assert.ok(
        lines.some((l) => /saved 1\.txt \(1 line, 5 B\)/.test(l.msg)),
        'one log line per file',
      );
      assert.ok(
        lines.some((l) => /closed \(quit\)/.test(l.msg)),
        'one log line per connection',
      );
    } finally {
      await removeDir(dir);
    }
  });

  test('send --json: one object per file and a summary; --quiet prints nothing; no progress bar off a terminal', async () => {
    const s = await runServer({ limits: { maxLines: 2 } });
    const files = await tempDir();
    try {
      await writeFile(join(files, 'a.txt'), 'a\n');
      // Large enough that a progress bar would show on a terminal.
      await writeFile(join(files, 'big.txt'), 'x'.repeat(100).concat('\n').repeat(60_000).slice(0, -1));
      await writeFile(join(files, 'three.txt'), '1\n2\n3\n');
      const args = ['send', '--host', HOST, '--port', String(s.port)];
      const json = await linedrop([
        ...args,
        '--json',
        join(files, 'a.txt'),
        join(files, 'three.txt'),
        join(files, 'a.txt'),
      ]).done;
      assert.equal(json.code, 1);
      const events = json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(
        events.map((e) => [e['event'], e['outcome'] ?? null, e['status'] ?? null]),
        [
          ['file', 'accepted', 'A'],
          ['file', 'rejected', 'R'],
          ['file', 'not-sent', null],
          ['summary', null, null],
        ],
      );
      assert.deepEqual(
        { ...events[3], error: undefined, bytes: undefined, ms: undefined },
        {
          event: 'summary',
          files: 3,
          accepted: 1,
          rejected: 1,
          notSent: 1,
          exitCode: 1,
          error: undefined,
          bytes: undefined,
          ms: undefined,
        },
      );
      assert.equal(events[0]!['lines'], 1);
      assert.equal(events[0]!['bytes'], 2);

      const quiet = await linedrop([...args, '--quiet', join(files, 'a.txt')]).done;
      assert.equal(quiet.code, 0);
      assert.equal(quiet.stdout, '');

      const s2 = await runServer();
      try {
        const plain = await linedrop(['send', '--host', HOST, '--port', String(s2.port), join(files, 'big.txt')]).done;
        assert.equal(plain.code, 0, plain.stderr);
        assert.equal(plain.stderr, '', 'no progress bar when standard error is not a terminal');
        assert.doesNotMatch(plain.stdout, /\x1b\[/);
      } finally {
        await s2.close();
      }
    } finally {
      await s.close();
      await removeDir(files);
    }
  });

  test('receive --json: events on standard output, a summary at shutdown', async () => {
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
      ]);
      assert.equal(await until(() => run.stdoutText().includes('"listening"')), true);
      const peer = await RawPeer.connect(port);
      await peer.write(Buffer.concat([frame(['one', 'two']), QUIT]));
      assert.equal(await peer.statuses(2), 'AQ');
      assert.equal(await until(() => run.stdoutText().includes('"closed"')), true);
      run.kill('SIGTERM');
      const { code, stdout, stderr } = await run.done;
      assert.equal(code, 0);
      const events = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(
        events.map((e) => e['event']),
        ['listening', 'connection', 'file', 'closed', 'summary'],
      );
      assert.equal(events[2]!['lines'], 2);
      assert.equal(events[2]!['bytes'], 8);
      assert.equal(events[3]!['reason'], 'quit');
      assert.equal(events[4]!['files'], 1);
      assert.equal(events[4]!['connections'], 1);
      assert.match(stderr, /stopped after/);
    } finally {
      await removeDir(dir);
    }
  });

  test('--help names the commands, the final-newline rule and the defaults', async () => {
    const top = await linedrop(['--help']).done;
    assert.equal(top.code, 0);
    assert.match(top.stdout, /send/);
    assert.match(top.stdout, /receive/);
    const send = await linedrop(['send', '--help']).done;
    assert.match(send.stdout, /missing final newline is added/);
    assert.match(send.stdout, /LINEDROP_PORT/);
    const receive = await linedrop(['receive', '--help']).done;
    assert.match(receive.stdout, /12100/);
    assert.match(receive.stdout, /--once/);
    const bad = await linedrop(['receive', '--port', 'nope']).done;
    assert.equal(bad.code, 2);
  });

  test('grade: the checker runs as a process of its own beside the command; the time limit it states is the default', async (t) => {
    const cls = await withTempDir(t, 'linedrop-class-');
    const out = await withTempDir(t, 'linedrop-grades-');
    await writeClass(cls, { alice: '' });
    const cmd = `sed 's/^PORT = 12100$/PORT = {port}/' {file} > server.py && printf '2\\n' | exec python3 server.py`;
    const result = await linedrop([
      'grade',
      cls,
      '--cmd',
      cmd,
      '--out',
      out,
      '--isolation',
      'none',
      '--sandbox',
      'none',
      '--quick',
    ]).done;
    assert.match(result.stderr, /; time limit 2 min each\.\n/);
    assert.match(result.stderr, /\[1\/1\] alice PASS/);
    assert.match(result.stdout, /Graded 1 submissions? in [\d.]+ s: 1 pass\./);
    assert.equal(result.code, 0, result.stderr);
  });
});
