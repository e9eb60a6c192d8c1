// `grade --points FILE` (and `check --points FILE`): a JSON object giving the points of checks by
// name, e.g. {"content": 3, "quit": 1, "concurrent-clients": 0.5}. A check not named keeps its
// default: 1 if the handout requires it, 0 if it goes beyond it (naming one gives it points).
// Every name must be a check's, and every value a number of 0 or more.
import { readFile } from 'node:fs/promises';
import { nearest } from '../../text.js';
import type { Points } from '../score.js';

export class BadPoints extends Error {
  override readonly name = 'BadPoints';
}

/** Checks the points file's text: the points, or BadPoints saying what is wrong and what to write. */
export function parsePoints(text: string, file: string, checks: readonly { name: string; required: boolean }[]): Points {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new BadPoints(`${file} is not JSON (${(e as Error).message}): write an object of check names and points, e.g. {"content": 3, "quit": 1}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new BadPoints(`${file} must hold a JSON object of check names and points, e.g. {"content": 3, "quit": 1}`);
  }
  const names = checks.map((c) => c.name);
  const points: Record<string, number> = {};
  for (const [name, n] of Object.entries(value)) {
    if (!names.includes(name)) {
      const near = nearest(name, names);
      throw new BadPoints(`${file}: "${name}" is not a check${near ? ` (did you mean "${near}"?)` : ''}; the checks are: ${names.join(', ')}`);
    }
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
      throw new BadPoints(`${file}: the points of "${name}" must be a number of 0 or more, not ${JSON.stringify(n)}`);
    }
    points[name] = n;
  }
  return points;
}

/** Reads and checks a points file. */
export async function readPoints(file: string, checks: readonly { name: string; required: boolean }[]): Promise<Points> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new BadPoints(
      `cannot read the points file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give --points a JSON file such as {"content": 3, "quit": 1}`,
    );
  }
  return parsePoints(text, file, checks);
}
