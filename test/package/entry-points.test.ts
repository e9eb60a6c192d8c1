// The package's entry points, imported by name in a fresh process each: which packages under
// node_modules each one loads. A module hook records every module resolved through `import`, and
// `require.cache` every CommonJS module (the packages' own `require`s too).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** The package's root (dist/test/package/ is three folders down): `linedrop/...` resolves there by self-reference. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

const HOOKS = `
import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(out, result.url + '\\n');
  return result;
}
`;
const REGISTER = `
import { register } from 'node:module';
register(new URL('./hooks.mjs', import.meta.url), { data: { out: process.env.LOADED_OUT } });
`;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'linedrop-entry-'));
  await writeFile(join(dir, 'hooks.mjs'), HOOKS);
  await writeFile(join(dir, 'register.mjs'), REGISTER);
});
after(() => rm(dir, { recursive: true, force: true }));

/**
 * The packages under node_modules that `source` (an ES module run from the package's root) loads: `prom-client`,
 * `@aws-sdk/client-s3`...
 */
async function packagesLoadedBy(source: string, name: string): Promise<Set<string>> {
  const out = join(dir, `${name}.txt`);
  await writeFile(out, '');
  const script = `${source}
import { createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
const cached = Object.keys(createRequire(process.cwd() + '/').cache);
appendFileSync(process.env.LOADED_OUT, cached.map((p) => 'cjs:' + p + '\\n').join(''));`;
  await run(
    process.execPath,
    ['--import', pathToFileURL(join(dir, 'register.mjs')).href, '--input-type=module', '-e', script],
    {
      cwd: ROOT,
      env: { ...process.env, LOADED_OUT: out },
    },
  );
  const loaded = (await readFile(out, 'utf8')).split('\n').filter((l) => l !== '');
  assert.ok(
    loaded.some((l) => l.includes('/dist/src/')),
    `nothing of linedrop was recorded for ${name}: ${loaded.join(', ')}`,
  );
  const packages = new Set<string>();
  for (const line of loaded) {
    const path = line.startsWith('file:') ? fileURLToPath(line) : line.replace(/^cjs:/, '');
    const at = path.lastIndexOf(`node_modules/`);
    if (at < 0) continue;
    const parts = path.slice(at + 'node_modules/'.length).split('/');
    packages.add(parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
  }
  return packages;
}

const HEAVY = ['prom-client', 'pino', 'pino-pretty', '@aws-sdk/client-s3', 'commander', 'cli-progress'];

describe('entry points: what importing each one loads', () => {
  test('the recorder sees packages loaded by import and by their own require (prom-client needs tdigest)', async () => {
    const loaded = await packagesLoadedBy(`import 'linedrop/client'; await import('prom-client');`, 'control');
    assert.ok(loaded.has('prom-client'), [...loaded].join(', '));
    assert.ok(loaded.has('tdigest'), [...loaded].join(', '));
  });

  for (const entry of ['linedrop/protocol', 'linedrop/client']) {
    test(`${entry} opens no file under node_modules`, async () => {
      assert.deepEqual([...(await packagesLoadedBy(`import '${entry}';`, entry.replace('/', '-')))], []);
    });
  }

  for (const entry of ['linedrop', 'linedrop/server', 'linedrop/storage', 'linedrop/check']) {
    test(`${entry} loads none of ${HEAVY.join(', ')} until they are used`, async () => {
      const loaded = await packagesLoadedBy(`import '${entry}';`, entry.replace('/', '-'));
      assert.deepEqual(
        HEAVY.filter((p) => loaded.has(p)),
        [],
      );
    });
  }

  test('linedrop/server loads prom-client once metrics are made', async () => {
    const loaded = await packagesLoadedBy(
      `import { createMetrics, LinedropServer } from 'linedrop/server';
       const storage = { location: 'nowhere', async init() { return 0; }, openConnection() { throw new Error('unused'); } };
       createMetrics(new LinedropServer({ storage }));`,
      'server-metrics',
    );
    assert.ok(loaded.has('prom-client'), [...loaded].join(', '));
  });

  test('each entry point exports what its types say, and the root no internals', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const names = {};
         for (const e of ['linedrop', 'linedrop/protocol', 'linedrop/client', 'linedrop/server', 'linedrop/storage', 'linedrop/check']) names[e] = Object.keys(await import(e)).sort();
         console.log(JSON.stringify(names));`,
      ],
      { cwd: ROOT },
    );
    const names = JSON.parse(stdout) as Record<string, string[]>;
    for (const internal of [
      'LineScanner',
      'scanLines',
      'countLineFeeds',
      'LineTally',
      'TEMP_PREFIX',
      'isTempName',
      'sessionName',
      'EarlierFileError',
      'parseListenAddress',
    ]) {
      for (const [entry, exported] of Object.entries(names))
        assert.ok(!exported.includes(internal), `${entry} exports ${internal}`);
    }
    // One name, one meaning: the client's and the checker's timeouts are told apart.
    assert.ok(!Object.values(names).some((n) => n.includes('DEFAULT_TIMEOUT_MS')));
    assert.ok(names['linedrop']!.includes('DEFAULT_CLIENT_TIMEOUT_MS'));
    assert.ok(names['linedrop/check']!.includes('DEFAULT_CHECK_TIMEOUT_MS'));
    // The same classes whichever entry they come from, so instanceof works across them.
    const { stdout: same } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import * as root from 'linedrop'; import * as p from 'linedrop/protocol'; import * as c from 'linedrop/client';
         console.log(root.LinedropError === p.LinedropError && root.ProtocolError === p.ProtocolError && root.ClientError === c.ClientError && c.LinedropError === p.LinedropError);`,
      ],
      { cwd: ROOT },
    );
    assert.equal(same.trim(), 'true');
  });
});
