// The AWS SDK is loaded only when object storage is used (src/storage/s3-client.ts): importing the
// library and running the commands that do not store into S3 never load it, so they never pay
// its start-up; `receive --store` does.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { HOST, ROOT, withServer, withTempDir } from '../support.js';

const BIN = join(ROOT, 'bin', 'linedrop.js');
const LIB = join(ROOT, 'dist', 'src', 'index.js');

/**
 * Runs first in the child: counts the SDK's packages as they are required (how s3-client.ts loads
 * it, and how the command's CommonJS bundle would), and makes an ES module import of one fail.
 */
const WATCH = `
const Module = require('node:module');
const seen = new Set();
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request.startsWith('@aws-sdk/')) seen.add(request);
  return load.call(this, request, ...rest);
};
Module.register('data:text/javascript,' + encodeURIComponent(
  'export async function resolve(s, c, next) { if (s.startsWith("@aws-sdk/")) throw new Error("imported " + s); return next(s, c); }'));
process.on('exit', () => process.stderr.write('\\nSDK packages loaded: ' + seen.size + '\\n'));
`;

interface Watched {
  status: number | null;
  stderr: string;
  /** How many of the SDK's packages were required. */
  loaded: number;
}

async function watched(code: string, env: Record<string, string> = {}): Promise<Watched> {
  const child = spawn(process.execPath, ['-e', WATCH + code], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const [status] = (await once(child, 'close')) as [number | null];
  const count = /SDK packages loaded: (\d+)/.exec(stderr);
  assert.ok(count, `the watch did not report: ${stderr}`);
  return { status, stderr, loaded: Number(count[1]) };
}

/** The `linedrop` command, as bin/linedrop.js runs it, with these arguments. */
function command(args: string[], env: Record<string, string> = {}): Promise<Watched> {
  return watched(
    `process.argv = [process.execPath, ${JSON.stringify(BIN)}, ` +
      `...${JSON.stringify(args)}]; require(${JSON.stringify(BIN)});`,
    env,
  );
}

describe('the AWS SDK is loaded only when S3 is used', () => {
  test('importing the library does not load it', async () => {
    const r = await watched(
      `import(${JSON.stringify(LIB)}).then((m) => { if (typeof m.S3Storage !== 'function') process.exit(9); });`,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.loaded, 0, r.stderr);
  });

  test('--help, send --help, receive --help and a send do not load it', async (t) => {
    for (const args of [['--help'], ['send', '--help'], ['receive', '--help']]) {
      const r = await command(args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.loaded, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const s = await withServer(t);
    const file = join(await withTempDir(t), 'notes.txt');
    await writeFile(file, 'one\ntwo\n');
    const sent = await command(['send', '--host', HOST, '--port', String(s.port), file]);
    assert.equal(sent.status, 0, sent.stderr);
    assert.equal(sent.loaded, 0, sent.stderr);
  });

  test('receive --store loads it (and fails with exit 3 when the bucket cannot be reached)', async () => {
    const r = await command(
      ['receive', '--store', 's3://b/p', '--s3-endpoint', 'http://127.0.0.1:1', '--port', '0', '--host', HOST],
      {
        AWS_ACCESS_KEY_ID: 'k',
        AWS_SECRET_ACCESS_KEY: 's',
        AWS_MAX_ATTEMPTS: '1',
      },
    );
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /cannot reach bucket b at http:\/\/127\.0\.0\.1:1/);
    assert.ok(r.loaded > 0, 'the SDK was required');
  });
});
