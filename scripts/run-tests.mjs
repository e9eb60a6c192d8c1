// Runs the compiled test files with Node's own test runner (nothing to install).
//
//   node scripts/run-tests.mjs [name-filter ...]            every test outside test/system/ (npm test)
//   node scripts/run-tests.mjs --system [name-filter ...]   the tests in test/system/ (npm run test:system)
//   --except NAME                                           leaves out the files whose path contains NAME
//
// A filter keeps the files whose path (relative to dist/test) contains it.
import { readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, relative, sep } from 'node:path';

const root = 'dist/test';
const args = process.argv.slice(2);
const system = args.includes('--system');
const except = [];
const filters = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--system') continue;
  if (args[i] === '--except') except.push(args[++i] ?? '');
  else filters.push(args[i]);
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const files = walk(root)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => (relative(root, f).split(sep)[0] === 'system') === system)
  .filter((f) => filters.length === 0 || filters.some((want) => relative(root, f).includes(want)))
  .filter((f) => !except.some((name) => relative(root, f).includes(name)))
  .sort();
if (files.length === 0) {
  console.error(`no test files in ${system ? `${root}/system` : root} match ${filters.join(' ') || '*'}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
