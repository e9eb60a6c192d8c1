// linedrop against an independent Python peer written from the lab handout
// (test/interop/lab_peer.py): the template's client (split count, 1 s pause) and a lab server that
// reads one byte at a time and serves one connection.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { LinedropClient } from '../../src/index.js';
import { HOST, ROOT, withServer, withTempDir } from '../support.js';

const PEER = join(ROOT, 'test/interop/lab_peer.py');
const BIN = join(ROOT, 'bin/linedrop.js');

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(child: ChildProcess, input?: string | Buffer): Promise<Done> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  if (input !== undefined) child.stdin?.end(input);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/**
 * Starts the Python lab server on a free port; resolves once it listens. It is killed if still running when the test
 * ends.
 */
async function labServer(t: TestContext, dir: string): Promise<{ port: number; done: Promise<Done> }> {
  const child = spawn('python3', [PEER, 'server', '--host', HOST, '--port', '0', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const done = run(child);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    await done;
  });
  let printed = '';
  while (!printed.includes('\n')) {
    const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
    printed += chunk.toString();
  }
  const match = /LISTENING (\d+)\n/.exec(printed);
  assert.ok(match, `the lab server printed its port: ${printed}`);
  return { port: Number(match[1]), done };
}

describe('interop with the lab programs', () => {
  test("our server, the template's client (split count and 1 s pause, piped input)", async (t) => {
    const s = await withServer(t);
    const child = spawn('python3', [PEER, 'client', '--host', HOST, '--port', String(s.port)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const result = await run(child, '2\nhello\nwörld\r\n1\n\t tab\n0\n');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.match(/File accepted\./g)?.length, 2);
    assert.match(result.stdout, /Server closing connection, as expected\./);
    assert.deepEqual(await readFile(join(s.dir, '1.txt')), Buffer.from('hello\nwörld\r\n'));
    assert.deepEqual(await readFile(join(s.dir, '2.txt')), Buffer.from('\t tab\n'));
  });

  test('our library client, a lab server that reads one byte at a time', async (t) => {
    const dir = await withTempDir(t);
    const lab = await labServer(t, dir);
    const client = await LinedropClient.connect({ host: HOST, port: lab.port });
    assert.equal(await client.sendLines(['first', '', 'ünïcode\r']), 'A');
    assert.equal(await client.sendBuffer(Buffer.from('no newline at the end')), 'A');
    assert.equal(await client.quit(), 'Q');
    const done = await lab.done;
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual(await readFile(join(dir, '1.txt')), Buffer.from('first\n\nünïcode\r\n'));
    assert.deepEqual(await readFile(join(dir, '2.txt')), Buffer.from('no newline at the end\n'));
  });

  test('our command line client sending files, a lab server', async (t) => {
    const dir = await withTempDir(t);
    const files = await withTempDir(t);
    await writeFile(join(files, 'a.txt'), 'alpha\nbeta\n');
    await writeFile(join(files, 'b.txt'), 'gamma');
    const lab = await labServer(t, dir);
    const child = spawn(
      process.execPath,
      [BIN, 'send', '--host', HOST, '--port', String(lab.port), join(files, 'a.txt'), join(files, 'b.txt')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const result = await run(child);
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await lab.done).code, 0);
    assert.equal(await readFile(join(dir, '1.txt'), 'utf8'), 'alpha\nbeta\n');
    assert.equal(await readFile(join(dir, '2.txt'), 'utf8'), 'gamma\n');
  });

  test('our interactive client, driven through a pipe like the template, a lab server', async (t) => {
    const dir = await withTempDir(t);
    const lab = await labServer(t, dir);
    const child = spawn(process.execPath, [BIN, 'send', '--host', HOST, '--port', String(lab.port)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const result = await run(child, '1\nfrom a pipe\r\n0\n');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      'Enter the number of lines you want to send (0 to exit):Now enter all the lines of your message\n' +
        'Done sending. Awaiting reply.\nFile accepted.\n' +
        'Enter the number of lines you want to send (0 to exit):Server closing connection, as expected.\n',
    );
    assert.equal((await lab.done).code, 0);
    assert.deepEqual(await readFile(join(dir, '1.txt')), Buffer.from('from a pipe\r\n'));
  });
});
