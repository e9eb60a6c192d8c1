// The package as a user gets it: `npm pack` of this checkout, installed with
// `npm install -g --prefix <temporary folder>` (its dependencies come from the npm registry), then the
// installed `linedrop` command is run: it prints its version, and a send/receive round trip through it stores the
// files byte for byte.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { HOST, ROOT, ServerProcess, withTempDir, within } from '../support.js';

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, at most `ms`. */
function run(command: string, args: string[], options: { cwd?: string; ms?: number } = {}): Promise<Done> {
  const child = spawn(command, args, { cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Done>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return within(done, options.ms ?? 60_000, `${command} ${args.join(' ')}`).finally(() => child.kill());
}

/** The files the README links to by relative path (docs/...). */
async function readmeLinks(): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const links = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
    .map((m) => m[1]!)
    .filter((link) => !/^[a-z]+:/.test(link));
  return [...new Set(links)].sort();
}

describe('the packed package, installed globally', () => {
  test('npm pack holds what the command and the README need, and the installed linedrop runs and ' +
    'round-trips files', { timeout: 600_000 }, async (t) => {
    const work = await withTempDir(t, 'linedrop-package-');

    // Pack the checkout as it is (already built: no scripts, so the running tests' dist/ is left alone).
    const packed = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work]);
    assert.equal(packed.code, 0, packed.stderr);
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    assert.ok(info);
    const files = info.files.map((f) => f.path).sort();
    for (const needed of [
      'package.json',
      'README.md',
      'LICENSE',
      'bin/linedrop.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/cli/main.js',
      'tools/wireshark/linedrop.lua',
      ...(await readmeLinks()),
    ]) {
      assert.ok(files.includes(needed), `the package holds ${needed}`);
    }
    for (const path of files) {
      assert.doesNotMatch(path, /^(src|test|bench|scripts|dist\/test|dist\/bench)\//, `the package holds no ${path}`);
      assert.doesNotMatch(path, /\.map$/, `the package holds no source map (${path})`);
    }

    // Install the tarball into a prefix of its own, as `npm install -g` would for a user.
    const prefix = join(work, 'prefix');
    const installed = await run(
      'npm',
      ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', join(work, info.filename)],
      {
        cwd: work,
        ms: 480_000,
      },
    );
    assert.equal(installed.code, 0, installed.stderr);
    const linedrop = join(prefix, 'bin', 'linedrop');

    // The installed command starts (run through its own #! line, as a shell would) and knows its version.
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const shown = await run(linedrop, ['--version'], { cwd: work });
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.stdout, `${version}\n`);

    // A round trip through the installed command: its server receives what its client sends.
    const inbox = join(work, 'inbox');
    const sent = [
      Buffer.from('first line\nsecond line\n'),
      Buffer.from('ünïcode, a tab\t and a CR\r\n\nan empty line above\n'),
      Buffer.from(`${'x'.repeat(100_000)}\n`.repeat(20)),
    ];
    const paths = await Promise.all(
      sent.map(async (content, k) => {
        const path = join(work, `file-${k + 1}.txt`);
        await writeFile(path, content);
        return path;
      }),
    );
    const server = await ServerProcess.start(inbox, [], false, [linedrop]);
    t.after(() => server.stop());
    const send = await run(linedrop, ['send', '--host', HOST, '--port', String(server.port), ...paths], { cwd: work });
    assert.equal(send.code, 0, `linedrop send: ${send.stderr}`);
    for (const [k, content] of sent.entries()) {
      assert.deepEqual(
        await readFile(join(inbox, `${k + 1}.txt`)),
        content,
        `${k + 1}.txt holds file-${k + 1}.txt byte for byte`,
      );
    }
    server.signal('SIGTERM');
    const { code } = await within(server.exited, 15_000, 'the installed server to stop on SIGTERM');
    assert.equal(code, 0, server.text());
  });
});
