// `linedrop send` as a user runs it (a child process): timeouts against servers that never answer,
// never read or never accept; bytes no file asked for; binary files; the final newline it adds;
// --host HOST:PORT; standard input spooled to a temporary file; Ctrl-C.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { sendFiles } from '../../../src/cli/send/send.js';
import { HOST, ROOT, removeDir, runServer, tempDir, until } from '../../support.js';
import { FullBacklog, Peer } from '../../client/peers.js';

const BIN = join(ROOT, 'bin/linedrop.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Run {
  done: Promise<Result>;
  signal(name: NodeJS.Signals): void;
}

function linedrop(args: string[], options: { stdin?: string | Buffer; env?: Record<string, string> } = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.stdin ?? '');
  return {
    done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))),
    signal: (name) => child.kill(name),
  };
}

const target = (port: number): string[] => ['send', '--host', HOST, '--port', String(port)];

async function withFiles<T>(
  contents: Record<string, string | Buffer>,
  body: (paths: Record<string, string>, dir: string) => Promise<T>,
): Promise<T> {
  const dir = await tempDir();
  try {
    const paths: Record<string, string> = {};
    for (const [name, content] of Object.entries(contents)) {
      paths[name] = join(dir, name);
      await writeFile(paths[name]!, content);
    }
    return await body(paths, dir);
  } finally {
    await removeDir(dir);
  }
}

describe('send: timeouts', () => {
  test(
    '--connect-timeout: a server whose backlog is full gives exit 3 with the reason; with ' +
      '--retry, after the last try',
    async () => {
      const backlog = await FullBacklog.start();
      try {
        await withFiles({ 'a.txt': 'a\n' }, async ({ 'a.txt': a }) => {
          const plain = await linedrop([...target(backlog.port), '--connect-timeout', '0.3', a!]).done;
          assert.equal(plain.code, 3, plain.stderr);
          assert.match(
            plain.stderr,
            new RegExp(
              `^linedrop: cannot connect to 127\\.0\\.0\\.1:${backlog.port}: no answer ` +
                `within 300 ms \\(--connect-timeout sets how long to wait\\)\\n$`,
            ),
          );
          const retried = await linedrop([
            ...target(backlog.port),
            '--connect-timeout',
            '0.3',
            '--retry',
            '1',
            '--retry-delay',
            '10',
            a!,
          ]).done;
          assert.equal(retried.code, 3, retried.stderr);
          assert.match(
            retried.stderr,
            /no answer within 300 ms; reconnecting in \d+ ms \(retry 1 of 1\), 1 file left to send\n/,
          );
          assert.match(retried.stderr, /no answer within 300 ms \(--connect-timeout sets how long to wait\)\n$/);
        });
      } finally {
        await backlog.close();
      }
    },
  );

  test('--timeout: a server that never answers gives exit 4 with the reason; with --retry, after the last try', async () => {
    const peer = await Peer.start();
    try {
      await withFiles({ 'a.txt': 'a\n', 'b.txt': 'b\n' }, async ({ 'a.txt': a, 'b.txt': b }) => {
        const plain = await linedrop([...target(peer.port), '--timeout', '0.3', a!, b!]).done;
        assert.equal(plain.code, 4, plain.stderr);
        assert.match(
          plain.stderr,
          /a\.txt: no answer from the server for 300 ms \(waiting for the status of message 1\); the connection was closed \(--timeout sets how long to wait; 0 waits forever\)\n/,
        );
        assert.match(plain.stderr, /b\.txt: not sent\n/);
        const retried = await linedrop([
          ...target(peer.port),
          '--timeout',
          '0.3',
          '--retry',
          '2',
          '--retry-delay',
          '10',
          a!,
          b!,
        ]).done;
        assert.equal(retried.code, 4, retried.stderr);
        assert.equal(retried.stderr.match(/reconnecting in/g)?.length, 2);
        assert.equal(peer.connections, 4, 'one connection, then the first try again, then two retries');
      });
    } finally {
      await peer.close();
    }
  });

  test('--timeout in the interactive client (no files): a server that never answers gives exit 4', async () => {
    const peer = await Peer.start();
    try {
      const result = await linedrop([...target(peer.port), '--timeout', '0.3'], { stdin: '1\nhello\n0\n' }).done;
      assert.equal(result.code, 4, result.stderr);
      assert.match(result.stderr, /no answer from the server for 300 ms \(waiting for the status of message 1\)/);
    } finally {
      await peer.close();
    }
  });

  test('--timeout: a server that never reads (its receive window fills) gives exit 4 that says so', async () => {
    const peer = await Peer.start({ read: false });
    try {
      await withFiles({ 'big.txt': Buffer.alloc(64 * 1024 * 1024, 'line of text\n') }, async ({ 'big.txt': big }) => {
        const result = await linedrop([...target(peer.port), '--timeout', '0.3', big!]).done;
        assert.equal(result.code, 4, result.stderr);
        assert.match(
          result.stderr,
          /big\.txt: the server has not read anything for 300 ms \(its receive window is full\)/,
        );
      });
    } finally {
      await peer.close();
    }
  });
});

describe('send: what the server sends that no file asked for', () => {
  test('a server that sprays A bytes while the client sends: exit 1, "no file asked for", memory bounded', async () => {
    const peer = await Peer.start({
      onConnect: (socket) => {
        const chunk = Buffer.alloc(64 * 1024, 'A');
        const spray = (): void => {
          while (!socket.destroyed && socket.write(chunk));
        };
        socket.on('drain', spray);
        spray();
      },
    });
    try {
      await withFiles({ 'big.txt': Buffer.alloc(32 * 1024 * 1024, 'line of text\n') }, async ({ 'big.txt': big }) => {
        const result = await linedrop([...target(peer.port), big!]).done;
        assert.equal(result.code, 1, result.stderr);
        assert.match(
          result.stderr,
          /big\.txt: the server (sent "A+" \(41 .*\).* that no file asked for|answered "A" to message 1 before the client had sent all of it); the connection was closed/,
        );
      });
    } finally {
      await peer.close();
    }
  });

  test('a server that answers "A\\n": not reported accepted with exit 0', async () => {
    const peer = await Peer.start({ onMessage: (socket, lines) => socket.write(lines === 0 ? 'Q' : 'A\n') });
    try {
      await withFiles({ 'a.txt': 'a\n', 'b.txt': 'b\n' }, async (paths) => {
        for (const files of [[paths['a.txt']!], [paths['a.txt']!, paths['b.txt']!]]) {
          const result = await linedrop([...target(peer.port), ...files]).done;
          assert.equal(result.code, 1, result.stderr);
          assert.match(
            `${result.stdout}${result.stderr}`,
            /that no file asked for|unexpected response "\\n"|answered "\\n" to the quit message/,
          );
        }
      });
    } finally {
      await peer.close();
    }
  });
});

describe('send: what it says about files', () => {
  test('a missing final newline: the client says it adds one and reports the bytes the server stores', async () => {
    const s = await runServer();
    try {
      await withFiles({ 'ten.txt': 'line one\nline two' }, async ({ 'ten.txt': ten }) => {
        const result = await linedrop([...target(s.port), '--no-progress', ten!]).done;
        assert.equal(result.code, 0, result.stderr);
        const stored = await readFile(join(s.dir, '1.txt'));
        assert.equal(stored.length, 18);
        assert.match(result.stdout, /ten\.txt: accepted as 1\.txt \(2 lines, 18 bytes; a final newline was added\)/);
        assert.match(result.stdout, /^sent 1 file, 18 B in [\d.]+ m?s \(.*\/s\)$/m);
        const json = await linedrop([...target(s.port), '--json', ten!]).done;
        const file = JSON.parse(json.stdout.split('\n')[0]!) as Record<string, unknown>;
        assert.deepEqual([file['bytes'], file['newlineAdded']], [18, true]);
      });
    } finally {
      await s.close();
    }
  });

  test('a file with NUL bytes is refused (exit 2, nothing sent) unless --binary', async () => {
    const s = await runServer();
    let connections = 0;
    s.server.on('connectionOpened', () => connections++);
    try {
      const bin = Buffer.from('head\n\u0000\u0001\u0002\nend\n', 'latin1');
      await withFiles({ 'ok.txt': 'ok\n', 'data.bin': bin }, async (paths) => {
        const refused = await linedrop([...target(s.port), paths['ok.txt']!, paths['data.bin']!]).done;
        assert.equal(refused.code, 2, refused.stderr);
        assert.match(
          refused.stderr,
          /data\.bin: has a NUL byte at offset 5, so it looks like a binary file \(nothing was sent\); --binary sends it anyway/,
        );
        assert.equal(connections, 0);
        const sent = await linedrop([...target(s.port), '--binary', paths['data.bin']!]).done;
        assert.equal(sent.code, 0, sent.stderr);
        assert.deepEqual(await readFile(join(s.dir, '1.txt')), bin);
      });
    } finally {
      await s.close();
    }
  });
});

describe('send: the command line', () => {
  test(
    '--host HOST:PORT is understood; with a --port that disagrees it is refused with the fix; ' +
      '--port 0 and -q --json are usage errors',
    async () => {
      const s = await runServer();
      try {
        await withFiles({ 'a.txt': 'a\n' }, async ({ 'a.txt': a }) => {
          const joined = await linedrop(['send', '--host', `${HOST}:${s.port}`, a!]).done;
          assert.equal(joined.code, 0, joined.stderr);
          const clash = await linedrop(['send', '--host', `${HOST}:${s.port}`, '--port', '1', a!]).done;
          assert.equal(clash.code, 2);
          assert.match(
            clash.stderr,
            new RegExp(`--host 127\\.0\\.0\\.1:${s.port} names port ${s.port} but --port says 1: give the port once`),
          );
          const zero = await linedrop(['send', '--host', HOST, '--port', '0', a!]).done;
          assert.equal(zero.code, 2);
          assert.match(zero.stderr, /--port <port>.*expected a whole number from 1 to 65535/);
          const both = await linedrop([...target(s.port), '-q', '--json', a!]).done;
          assert.equal(both.code, 2);
          assert.match(both.stderr, /cannot be used with/);
        });
      } finally {
        await s.close();
      }
    },
  );

  test(
    'send - : standard input past the threshold is spooled to a temporary file, sent byte for ' +
      'byte, and the file removed',
    async () => {
      const s = await runServer();
      const tmp = await tempDir();
      try {
        const body = Buffer.alloc(20 * 1024 * 1024, 'some text on a line\n');
        const result = await linedrop([...target(s.port), '-'], { stdin: body, env: { TMPDIR: tmp } }).done;
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(await readFile(join(s.dir, '1.txt')), body);
        assert.deepEqual(await readdir(tmp), [], 'the spool folder is removed');
        // Through a shell pipe (read through /dev/stdin, not as a stream), with no final newline.
        const input = join(tmp, '..', `${tmp.split('/').pop()}-input`);
        await writeFile(input, body.subarray(0, body.length - 1));
        try {
          const piped = await new Promise<Result>((resolve) => {
            const child = spawn(
              'sh',
              [
                '-c',
                'cat "$0" | "$1" "$2" send --host "$3" --port "$4" -',
                input,
                process.execPath,
                BIN,
                HOST,
                String(s.port),
              ],
              {
                env: { ...process.env, TMPDIR: tmp },
              },
            );
            let stdout = '';
            let stderr = '';
            child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
            child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
            child.on('close', (code) => resolve({ code, stdout, stderr }));
          });
          assert.equal(piped.code, 0, piped.stderr);
          assert.match(
            piped.stdout,
            /standard input: accepted as 1\.txt \(1048576 lines, 20971520 bytes; a final newline was added\)/,
          );
          assert.deepEqual(await readFile(join(s.dir, '1.txt')), body);
          assert.deepEqual(await readdir(tmp), [], 'the spool folder is removed');
        } finally {
          await removeDir(input);
        }
      } finally {
        await s.close();
        await removeDir(tmp);
      }
    },
  );

  test('Ctrl-C: exit 130, saying which files were accepted, sent without an answer, and not sent', async () => {
    // Answers the first file, then nothing.
    const peer = await Peer.start({ onMessage: (socket, _lines, n) => n === 1 && socket.write('A') });
    try {
      await withFiles({ 'a.txt': 'a\n', 'b.txt': 'b\n' }, async ({ 'a.txt': a, 'b.txt': b }) => {
        const run = linedrop([...target(peer.port), '--max-in-flight', '1', a!, b!, b!]);
        assert.equal(await until(() => peer.messages >= 2), true);
        run.signal('SIGINT');
        const result = await run.done;
        assert.equal(result.code, 130, result.stderr);
        assert.match(
          result.stderr,
          /linedrop: interrupted; accepted: .*a\.txt; sent but not answered \(the server may have stored it\): .*b\.txt; not sent: .*b\.txt\n/,
        );
      });
    } finally {
      await peer.close();
    }
  });
});

/** Standard error as a terminal would be: what is written to it, kept. */
class Terminal extends Writable {
  readonly isTTY = true;
  readonly columns = 160;
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('send: the progress bar', () => {
  test('Ctrl-C on a terminal: the bar is cleared, then what was and was not sent is said (exit 130)', async () => {
    const peer = await Peer.start(); // reads everything, answers nothing
    try {
      await withFiles({ 'first.txt': 'one\n', 'second.txt': 'two\n' }, async (paths) => {
        const err = new Terminal();
        const interrupt = new AbortController();
        const running = sendFiles({
          host: HOST,
          port: peer.port,
          files: [paths['first.txt']!, paths['second.txt']!],
          stdin: new PassThrough(),
          out: new PassThrough(),
          err,
          maxInFlight: 1,
          signal: interrupt.signal,
        });
        assert.equal(await until(() => peer.messages === 1), true);
        interrupt.abort();
        assert.equal(await running, 130);
        const [bar, said] = err.text.split('linedrop: interrupted');
        assert.match(bar!, /sending .*first\.txt/);
        // The bar's line is erased (cursor shown again, back to column 1, erase line) before the message.
        assert.match(bar!, /\x1b\[\?25h.*\x1b\[1G\x1b\[2K$/);
        assert.match(
          said!,
          /^; accepted: none; sent but not answered \(the server may have stored it\): .*first\.txt; not sent: .*second\.txt\n$/,
        );
      });
    } finally {
      await peer.close();
    }
  });

  test(
    'on a terminal: shown at once while lines are counted, then the file being sent, rate and ' +
      'ETA; a summary line at the end',
    async () => {
      const err = new Terminal();
      const sendingSecond = /sending .*\| .*second\.txt \| .* of 4\.0 MiB \| .*\/s \| ETA .* \| files 1\/2/;
      // A server that answers the second file only once the bar has shown it being sent (the bar
      // redraws a few times a second), so what the test sees does not depend on how fast it runs.
      const peer = await Peer.start({
        onMessage: (socket, lines, n) => {
          if (lines === 0) socket.end('Q');
          else if (n === 1) socket.write('A');
          else void until(() => sendingSecond.test(err.text)).then(() => socket.write('A'));
        },
      });
      try {
        await withFiles(
          { 'first.txt': 'one\n', 'second.txt': Buffer.alloc(4 * 1024 * 1024, 'a line of text.\n') },
          async (paths) => {
            let out = '';
            const stdout = new Writable({
              write(chunk: Buffer, _encoding, done) {
                out += chunk.toString();
                done();
              },
            });
            const code = await sendFiles({
              host: HOST,
              port: peer.port,
              files: [paths['first.txt']!, paths['second.txt']!],
              stdin: new PassThrough(),
              out: stdout,
              err,
            });
            assert.equal(code, 0, err.text);
            assert.match(err.text, /counting lines .*first\.txt/, 'the bar appears while the lines are counted');
            assert.match(err.text, sendingSecond);
            assert.match(out, /second\.txt: accepted as 2\.txt \(262144 lines, 4194304 bytes\)\n/);
            assert.match(out, /^sent 2 files, 4\.0 MiB in [\d.]+ m?s \([\d.]+ [KMG]?i?B\/s\)\n$/m);
          },
        );
      } finally {
        await peer.close();
      }
    },
  );
});
