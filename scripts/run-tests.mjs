// Runs the compiled test files with Node's own test runner (nothing to install).
// Usage: node scripts/run-tests.mjs [name-filter ...]
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const dir = 'dist/test';
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => filters.length === 0 || filters.some((want) => f.includes(want)))
  .sort()
  .map((f) => join(dir, f));
if (files.length === 0) {
  console.error(`no test files in ${dir} match ${filters.join(' ') || '*'}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
