// Assembles src/protocol/newlines.wat (WebAssembly text) with the wabt package into the module the
// protocol loads, src/protocol/newlines-wasm.ts: the bytes as a constant, since src/protocol/ reads
// no file. The generated file is committed, so the packed package, the bundled command and a build
// without wabt all have it; test/protocol/newlines-wasm.test.ts checks it against a fresh build.
//
//   node scripts/build-wasm.mjs    rewrite newlines-wasm.ts if the .wat gives other bytes
//
// build-if-stale.mjs calls buildWasm() before tsc.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const WAT = 'src/protocol/newlines.wat';
export const OUT = 'src/protocol/newlines-wasm.ts';

/** The module's bytes, assembled from `wat` (the text). */
export async function assemble(wat) {
  let wabtInit;
  try {
    ({ default: wabtInit } = await import('wabt'));
  } catch (e) {
    if (e.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    throw new Error(
      `wabt is not installed, so ${WAT} cannot be assembled: run \`npm install\` (with devDependencies) first`,
    );
  }
  const wabt = await wabtInit();
  const module = wabt.parseWat(WAT, wat, { simd: true });
  try {
    module.validate();
    return Buffer.from(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

/** The text of newlines-wasm.ts for these bytes. */
export function moduleSource(bytes) {
  const rows = [];
  for (let i = 0; i < bytes.length; i += 16)
    rows.push(`  ${[...bytes.subarray(i, i + 16)].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ')},`);
  return [
    `// The WebAssembly module of newlines.ts, ${bytes.length} bytes assembled from newlines.wat by`,
    '// scripts/build-wasm.mjs (`npm run build`): generated, do not edit; edit newlines.wat instead.',
    '',
    '// biome-ignore format: generated',
    'export const NEWLINES_WASM = new Uint8Array([',
    ...rows,
    ']);',
    '',
  ].join('\n');
}

/** Rewrites newlines-wasm.ts when newlines.wat gives other bytes; true if it did. */
export async function buildWasm() {
  const source = moduleSource(await assemble(readFileSync(WAT, 'utf8')));
  let current = '';
  try {
    current = readFileSync(OUT, 'utf8');
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
  if (current === source) return false;
  writeFileSync(OUT, source);
  return true;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log((await buildWasm()) ? `${OUT} written from ${WAT}` : `${OUT} is up to date`);
}
