// The error codes and their table in docs/errors.md: every code the source makes has its row, and
// every row a code the source makes, so the two cannot drift apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ClientError,
  ConnectionError,
  LinedropError,
  ProtocolError,
  ProxyProtocolError,
  S3StorageError,
} from '../../src/index.js';
import {
  CheckCancelledError,
  NoNamespacesError,
  NoSubmissionsError,
  OutNotOursError,
  ServerUnreachableError,
} from '../../src/check/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

test('every LINEDROP_ERR_ code in src/ has its row in docs/errors.md, and every row a code in src/', () => {
  const inSource = new Set<string>();
  for (const file of sources(join(ROOT, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/'(LINEDROP_ERR_[A-Z0-9_]+)'/g)) inSource.add(m[1]!);
  }
  const rows = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('| `LINEDROP_ERR_'));
  const documented = new Map(rows.map((row) => [/^\| `(LINEDROP_ERR_[A-Z0-9_]+)`/.exec(row)![1]!, row.split(' | ')]));
  assert.ok(inSource.size >= 25, `only ${inSource.size} codes found in src/`);
  assert.deepEqual([...inSource].filter((c) => !documented.has(c)).sort(), [], 'codes with no row in docs/errors.md');
  assert.deepEqual(
    [...documented.keys()].filter((c) => !inSource.has(c)).sort(),
    [],
    'rows of docs/errors.md for codes the source no longer makes',
  );
  assert.equal(rows.length, documented.size, 'a code has two rows');
  for (const [code, cells] of documented) {
    assert.equal(cells.length, 4, `${code}: the row needs a class, a meaning and what to do`);
    for (const cell of cells) assert.ok(cell.replace(/[|` ]/g, '') !== '', `${code}: an empty cell`);
  }
});

test('every exported error class is a LinedropError whose name ends in Error and whose code starts LINEDROP_ERR_', () => {
  const made = [
    new ProtocolError('LINEDROP_ERR_TRUNCATED', 'm'),
    new ClientError('LINEDROP_ERR_CONNECT', 'm'),
    new ConnectionError('LINEDROP_ERR_IDLE_TIMEOUT', 'm'),
    new ProxyProtocolError('m'),
    new S3StorageError('m'),
    new ServerUnreachableError('m'),
    new CheckCancelledError('m'),
    new NoSubmissionsError('m'),
    new NoNamespacesError('m'),
    new OutNotOursError('m'),
  ];
  for (const err of made) {
    assert.ok(err instanceof LinedropError, err.name);
    assert.match(err.name, /Error$/);
    assert.equal(err.name, err.constructor.name);
    assert.match(err.code, /^LINEDROP_ERR_[A-Z0-9_]+$/, err.name);
  }
});

test('the same bad maxInFlight is the same error in the client and the server, in the command line words', async () => {
  const { LinedropClient, LinedropServer } = await import('../../src/index.js');
  for (const [value, name, code] of [
    [0, 'RangeError', 'LINEDROP_ERR_OUT_OF_RANGE'],
    [1.5, 'RangeError', 'LINEDROP_ERR_OUT_OF_RANGE'],
    ['8', 'TypeError', 'LINEDROP_ERR_INVALID_ARG_TYPE'],
  ] as const) {
    const expected = {
      name,
      code,
      message: `maxInFlight: expected a whole number from 1 to 1024, not ${typeof value === 'string' ? `"${value}"` : value}`,
    };
    assert.throws(() => new LinedropServer({ maxInFlight: value as number }), expected);
    await assert.rejects(LinedropClient.connect({ port: 1, maxInFlight: value as number }), expected);
  }
});
