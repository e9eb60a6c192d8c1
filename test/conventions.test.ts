// The conventions CONTRIBUTING.md documents, checked: every source file starts with a `//` comment
// saying what it owns, and every file or folder the map of the code names exists.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './support.js';

/** The files git tracks under `dir` (the tree as committed or staged, not the build's output). */
function tracked(...patterns: string[]): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...patterns], {
    cwd: ROOT,
  });
  return out
    .toString('utf8')
    .split('\0')
    .filter((f) => f !== '' && existsSync(join(ROOT, f)));
}

test('every source file starts with a // comment saying what it owns', () => {
  const files = tracked('src/*.ts');
  assert.ok(files.length > 50, `expected the sources under src/, found ${files.length}`);
  const missing = files.filter((f) => {
    const first = readFileSync(join(ROOT, f), 'utf8').split('\n', 1)[0] ?? '';
    return !/^\/\/ \S/.test(first);
  });
  assert.deepEqual(
    missing,
    [],
    `these files do not start with a "// what this file owns" comment: ${missing.join(', ')}`,
  );
});

/** The backquoted names in a piece of Markdown that look like a file or a folder of the repository. */
function namedPaths(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(/`([^`\s]+)`/g)) {
    const name = m[1]!;
    if (/^\.\w+$/.test(name)) continue; // an extension alone (`.wat`), not a file
    if (
      /^[\w.-]+(\/[\w.-]+)*\/?$/.test(name) &&
      (/\.(ts|mjs|cjs|js|py|json|jsonc|md|sh|lua|wat)$/.test(name) || name.endsWith('/'))
    ) {
      names.push(name);
    }
  }
  return names;
}

test("every file and folder named in CONTRIBUTING.md's map of the code exists", () => {
  const text = readFileSync(join(ROOT, 'CONTRIBUTING.md'), 'utf8');
  const start = text.indexOf('## The map of the code');
  const end = text.indexOf('\n## ', start + 1);
  assert.ok(start >= 0 && end > start, 'CONTRIBUTING.md has a "## The map of the code" section');
  const map = text.slice(start, end);
  const all = tracked('.');
  const rows = map.split('\n').filter((line) => line.startsWith('| `'));
  assert.ok(rows.length >= 6, `expected a row per room in the map, found ${rows.length}`);
  const problems: string[] = [];
  for (const row of rows) {
    // A row's first cell names its room(s): the files in the row are looked for there.
    const rooms = namedPaths(row.split('|')[1] ?? '').map((r) => r.replace(/\/$/, ''));
    for (const name of namedPaths(row)) {
      const bare = name.replace(/\/$/, '');
      const atRoot = existsSync(join(ROOT, bare));
      const inRoom = rooms.some((room) => existsSync(join(ROOT, room, bare)));
      // A bare file name in a room's row may sit in one of the room's folders (`checks/helpers.ts`).
      const below =
        !bare.includes('/') && rooms.some((room) => all.some((f) => f.startsWith(`${room}/`) && basename(f) === bare));
      if (!atRoot && !inRoom && !below) problems.push(`${name} (row of ${rooms.join(', ') || 'no room'})`);
    }
  }
  assert.deepEqual(problems, [], `CONTRIBUTING.md names files that do not exist: ${problems.join('; ')}`);
});
