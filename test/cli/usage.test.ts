// What people expect of a command line: --version, help, unknown commands, environment
// variables, units, colour, completion, contradictory flags. Each runs bin/linedrop.js.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BIN, linedrop } from './run.js';
import { HOST, QUIT, ROOT, RawPeer, frame, freePort, removeDir, runServer, tempDir, until } from '../support.js';

const VERSION = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Starts `linedrop receive` on a free port with JSON logs; resolves once it listens. */
async function receiving(args: string[], env: Record<string, string | undefined> = {}) {
  const dir = await tempDir();
  const port = await freePort();
  const run = linedrop(
    ['receive', '--port', String(port), '--host', HOST, '--dir', dir, '--log-format', 'json', ...args],
    '',
    env,
  );
  const up = await until(() => run.stderrText().includes('listening') || run.stderrText().includes('error'));
  assert.ok(up && run.stderrText().includes('listening'), run.stderrText());
  return { run, port, dir };
}

describe('the command line people expect', () => {
  test('--version and -V print the package version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await linedrop([flag]).done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${VERSION}\n`);
    }
  });

  test('linedrop help, help COMMAND, and help for a command that does not exist', async () => {
    const top = await linedrop(['help']).done;
    assert.equal(top.code, 0);
    assert.match(top.stdout, /Usage: linedrop/);
    assert.match(top.stdout, /Exit status/);
    const send = await linedrop(['help', 'send']).done;
    assert.equal(send.code, 0);
    assert.match(send.stdout, /Usage: linedrop send/);
    const check = await linedrop(['help', 'check']).done;
    assert.match(check.stdout, /Checks, in the order they run:\n {2}numbering/, 'the list of checks is in the help');
    const bad = await linedrop(['help', 'sned']).done;
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command 'sned', did you mean 'send'\?/);
  });

  test('an unknown command is a usage error that suggests the nearest one (exit 2)', async () => {
    const r = await linedrop(['sned', 'a.txt']).done;
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: unknown command 'sned', did you mean 'send'\?\n/);
    const far = await linedrop(['xyzzy']).done;
    assert.equal(far.code, 2);
    assert.match(far.stderr, /^error: unknown command 'xyzzy'\n/);
    const option = await linedrop(['send', '--prot', '1']).done;
    assert.equal(option.code, 2);
    assert.match(option.stderr, /unknown option '--prot'/);
  });

  test('a boolean variable that is neither on nor off is a usage error naming it', async () => {
    for (const [name, args] of [
      ['LINEDROP_ONCE', ['receive', '--port', '0']],
      ['LINEDROP_PROXY_PROTOCOL', ['receive', '--port', '0']],
      ['LINEDROP_SAVE_EMPTY', ['receive', '--port', '0']],
      ['LINEDROP_TLS', ['send', '--port', '1', 'x.txt']],
    ] as const) {
      const r = await linedrop([...args], '', { [name]: 'maybe' }).done;
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${name}="maybe".*expected 1, true, yes or on, or 0, false, no or off`));
    }
  });

  test('LINEDROP_ONCE=0 keeps serving after the first connection; LINEDROP_ONCE=yes stops', async () => {
    const off = await receiving([], { LINEDROP_ONCE: '0' });
    try {
      for (const text of ['first', 'second']) {
        const peer = await RawPeer.connect(off.port);
        await peer.write(Buffer.concat([frame([text]), QUIT]));
        assert.equal(await peer.statuses(2), 'AQ');
        assert.equal(await peer.waitClosed(), true);
      }
      off.run.kill('SIGTERM');
      assert.equal((await off.run.done).code, 0);
    } finally {
      await removeDir(off.dir);
    }
    const on = await receiving([], { LINEDROP_ONCE: 'yes' });
    try {
      const peer = await RawPeer.connect(on.port);
      await peer.write(Buffer.concat([frame(['only']), QUIT]));
      assert.equal(await peer.statuses(2), 'AQ');
      assert.equal((await on.run.done).code, 0, 'exits by itself after one connection');
    } finally {
      await removeDir(on.dir);
    }
  });

  test('LINEDROP_PROXY_PROTOCOL=false serves plain clients; LINEDROP_TLS=off connects in plain TCP', async () => {
    const r = await receiving(['--once'], { LINEDROP_PROXY_PROTOCOL: 'false' });
    const files = await tempDir();
    try {
      await writeFile(join(files, 'a.txt'), 'plain\n');
      const sent = await linedrop(['send', '--host', HOST, '--port', String(r.port), join(files, 'a.txt')], '', {
        LINEDROP_TLS: 'off',
      }).done;
      assert.equal(sent.code, 0, sent.stderr);
      assert.equal((await r.run.done).code, 0);
      assert.equal(await readFile(join(r.dir, '1.txt'), 'utf8'), 'plain\n');
    } finally {
      await removeDir(r.dir);
      await removeDir(files);
    }
  });

  test('sizes take suffixes: --max-message-bytes 1k rejects a message of 2 KiB and accepts one of 1 KiB', async () => {
    const r = await receiving(['--max-message-bytes', '1k']);
    try {
      const fits = await RawPeer.connect(r.port);
      await fits.write(Buffer.concat([frame(['x'.repeat(1023)]), QUIT]));
      assert.equal(await fits.statuses(2), 'AQ');
      const big = await RawPeer.connect(r.port);
      await big.write(frame(['y'.repeat(2047)]));
      assert.equal(await big.statuses(1), 'R');
    } finally {
      r.run.kill('SIGTERM');
      await r.run.done;
      await removeDir(r.dir);
    }
  });

  test('durations take units: --idle-timeout 300ms closes a silent connection', async () => {
    const r = await receiving(['--idle-timeout', '300ms']);
    try {
      const peer = await RawPeer.connect(r.port);
      assert.equal(await peer.waitClosed(), true, 'the server closed the silent connection');
      assert.equal(await until(() => /idle/.test(r.run.stderrText())), true, r.run.stderrText());
    } finally {
      r.run.kill('SIGTERM');
      await r.run.done;
      await removeDir(r.dir);
    }
  });

  test('a bad duration or size quotes the flag and the value and says what is accepted', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [
        ['receive', '--idle-timeout', '5x'],
        {},
        /option '--idle-timeout <duration>' argument '5x' is invalid\. expected a duration .*such as 500ms, 30s or 2m \(a bare number is in seconds\)/,
      ],
      [
        ['receive'],
        { LINEDROP_SHUTDOWN_DEADLINE: 'soon' },
        /option '--shutdown-deadline <duration>' value 'soon' from env 'LINEDROP_SHUTDOWN_DEADLINE' is invalid/,
      ],
      [
        ['receive', '--max-message-bytes', '100Q'],
        {},
        /option '--max-message-bytes <size>' argument '100Q' is invalid\. expected a size .*such as 512, 512k, 100M or 4GiB/,
      ],
      [
        ['send', '--retry-delay', '1h', 'x.txt'],
        {},
        /option '--retry-delay <duration>' argument '1h' is invalid\. .*a bare number is in milliseconds/,
      ],
      [['check', '127.0.0.1:1', '--timeout', 'fast'], {}, /option '--timeout <duration>' argument 'fast' is invalid/],
    ];
    for (const [args, env, message] of cases) {
      const r = await linedrop(args, '', env).done;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  test('send flags that need files are refused without them instead of being ignored', async () => {
    for (const flags of [['--json'], ['--quiet'], ['--retry', '2']]) {
      const r = await linedrop(['send', '--port', '1', ...flags], '1\nline\n0\n').done;
      assert.equal(r.code, 2, flags.join(' '));
      assert.match(r.stderr, new RegExp(`${flags[0]} needs files to send`));
      assert.equal(r.stdout, '', 'no prompt was shown');
    }
  });

  test('send --json in the interactive mode is not silently ignored; with files it is honoured', async () => {
    const s = await runServer();
    const files = await tempDir();
    try {
      await writeFile(join(files, 'a.txt'), 'a\n');
      const r = await linedrop(['send', '--host', HOST, '--port', String(s.port), '--json', join(files, 'a.txt')]).done;
      assert.equal(r.code, 0, r.stderr);
      const events = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event: string });
      assert.deepEqual(
        events.map((e) => e.event),
        ['file', 'summary'],
      );
    } finally {
      await s.close();
      await removeDir(files);
    }
  });

  test('colour: FORCE_COLOR colours the log even into a pipe; NO_COLOR keeps a terminal plain', async () => {
    const forced = await receiving(['--log-format', 'pretty'], { FORCE_COLOR: '1' });
    forced.run.kill('SIGTERM');
    await forced.run.done;
    await removeDir(forced.dir);
    assert.match(forced.run.stderrText(), /\x1b\[/, 'ANSI colour in the pretty log');
    const plain = await receiving(['--log-format', 'pretty']);
    plain.run.kill('SIGTERM');
    await plain.run.done;
    await removeDir(plain.dir);
    assert.doesNotMatch(plain.run.stderrText(), /\x1b\[/, 'no colour into a pipe');
    // On a terminal (script(1) gives the command one), check's report is coloured unless NO_COLOR says no.
    const port = await freePort();
    const onTerminal = (noColor: string) =>
      spawnSync('script', ['-qec', `"${process.execPath}" "${BIN}" check ${HOST}:${port} --only accept`, '/dev/null'], {
        encoding: 'utf8',
        env: {
          ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'FORCE_COLOR')),
          TERM: 'xterm-256color',
          NO_COLOR: noColor,
        },
      });
    const coloured = onTerminal('');
    const uncoloured = onTerminal('1');
    assert.match(coloured.stdout, /\x1b\[1m/, coloured.stdout);
    assert.doesNotMatch(uncoloured.stdout, /\x1b\[1m/, uncoloured.stdout);
    assert.match(uncoloured.stdout, /linedrop check/);
  });

  test('completion: bash completes commands, options and their choices', async () => {
    const script = await linedrop(['completion', 'bash']).done;
    assert.equal(script.code, 0);
    const dir = await tempDir();
    try {
      await writeFile(join(dir, 'linedrop.bash'), script.stdout);
      const probe = [
        `source ${join(dir, 'linedrop.bash')}`,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not a template
        't() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); _linedrop; ' +
          'echo "${COMPREPLY[*]}"; }',
        't linedrop se',
        't linedrop ""',
        't linedrop receive --la',
        't linedrop receive --layout ""',
        't linedrop send --retry-d',
        't linedrop completion ""',
        't linedrop help check',
      ].join('\n');
      const r = spawnSync('bash', ['-c', probe], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.split('\n').slice(0, 7), [
        'send',
        'send receive check check-client grade completion help',
        '--layout',
        'flat session',
        '--retry-delay',
        'bash zsh fish',
        'check check-client',
      ]);
    } finally {
      await removeDir(dir);
    }
    for (const shell of ['zsh', 'fish']) {
      const r = await linedrop(['completion', shell]).done;
      assert.equal(r.code, 0);
      assert.match(r.stdout, /max-message-bytes/);
      assert.match(r.stdout, /check-client/);
    }
    const bad = await linedrop(['completion', 'pwsh']).done;
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /bash, zsh, fish/);
  });
});
