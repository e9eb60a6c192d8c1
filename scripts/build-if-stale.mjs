// Assembles the WebAssembly text (scripts/build-wasm.mjs), compiles the TypeScript (tsc) into dist/
// and bundles the command line (esbuild, scripts/bundle.mjs) into dist/cli/ only when a source file
// is newer than the last build, so `npm start` and `npm test` start at once when nothing changed.
//
//   node scripts/build-if-stale.mjs            build if stale (npm start, npm test, ...)
//   node scripts/build-if-stale.mjs --always   build (npm run build, and npm install's prepare)
//
// dist/ is emptied first, so a moved or deleted source leaves no stale compiled file behind.
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { bundle, ENTRY } from './bundle.mjs';
import { buildWasm } from './build-wasm.mjs';

const STAMP = 'dist/.build-stamp';
const SOURCES = [
  'src',
  'test',
  'bench',
  'tsconfig.json',
  'package.json',
  'scripts/bundle.mjs',
  'scripts/build-wasm.mjs',
];

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((max, name) => Math.max(max, newest(join(path, name))), st.mtimeMs);
}

const built = existsSync(STAMP) && existsSync(ENTRY) ? statSync(STAMP).mtimeMs : 0;
if (process.argv.includes('--always') || SOURCES.some((p) => newest(p) > built)) {
  const started = Date.now();
  rmSync('dist', { recursive: true, force: true });
  try {
    await buildWasm();
  } catch (e) {
    console.error(`build failed: ${e.message}`);
    process.exit(1);
  }
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
    stdio: 'inherit',
  });
  if (tsc.status !== 0) {
    console.error('build failed: fix the TypeScript errors above, then run the command again');
    process.exit(tsc.status ?? 1);
  }
  try {
    await bundle();
  } catch (e) {
    console.error(`build failed: ${e.message}`);
    process.exit(1);
  }
  writeFileSync(STAMP, `${new Date(started).toISOString()}\n`);
}
