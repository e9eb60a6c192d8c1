// The newline counter's WebAssembly module comes from its source: the bytes committed in
// src/protocol/newlines-wasm.ts are what wabt assembles from src/protocol/newlines.wat today, and
// the file is exactly what the build writes for them.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { NEWLINES_WASM } from '../../src/protocol/newlines-wasm.js';
import { ROOT } from '../support.js';

interface WasmBuild {
  WAT: string;
  OUT: string;
  assemble(wat: string): Promise<Buffer>;
  moduleSource(bytes: Uint8Array): string;
}

test('the committed WebAssembly bytes are a fresh build of newlines.wat', async () => {
  const build = (await import(pathToFileURL(join(ROOT, 'scripts/build-wasm.mjs')).href)) as WasmBuild;
  const fresh = await build.assemble(await readFile(join(ROOT, build.WAT), 'utf8'));
  assert.equal(
    Buffer.from(NEWLINES_WASM).toString('hex'),
    fresh.toString('hex'),
    `run \`node scripts/build-wasm.mjs\` to bring ${build.OUT} up to date`,
  );
  assert.equal(await readFile(join(ROOT, build.OUT), 'utf8'), build.moduleSource(fresh));
});

test('a change to the text changes the bytes', async () => {
  const build = (await import(pathToFileURL(join(ROOT, 'scripts/build-wasm.mjs')).href)) as WasmBuild;
  const wat = await readFile(join(ROOT, build.WAT), 'utf8');
  const changed = wat.replace('(i8x16.splat (i32.const 10))', '(i8x16.splat (i32.const 13))');
  assert.notEqual(changed, wat);
  const bytes = await build.assemble(changed);
  assert.notEqual(bytes.toString('hex'), Buffer.from(NEWLINES_WASM).toString('hex'));
  await assert.rejects(build.assemble('(module (func (result i32)))'), /type mismatch|expected|error/i);
});
