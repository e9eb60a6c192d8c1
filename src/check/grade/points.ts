// `grade --points FILE` (and `check --points FILE`): a JSON object giving the points of checks by
// name, e.g. {"content": 3, "quit": 1, "concurrent-clients": 0.5}. A check not named keeps its
// default: 1 if the handout requires it, 0 if it goes beyond it (naming one gives it points).
// Every name must be a check's, and every value a number of 0 or more.
import { readFile } from 'node:fs/promises';
import { LinedropError } from '../../errors.js';
import { nearest } from '../../text.js';
import type { Points } from '../score.js';

/**
 * The points file (`--points`) cannot be read, is not JSON, names a check that does not exist, or gives a bad value.
 */
export class BadPointsError extends LinedropError<'LINEDROP_ERR_BAD_POINTS'> {
  override name = 'BadPointsError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('LINEDROP_ERR_BAD_POINTS', message, options);
  }
}

/** Checks the points file's text: the points, or BadPointsError saying what is wrong and what to write. */
export function parsePoints(
  text: string,
  file: string,
  checks: readonly { name: string; required: boolean }[],
): Points {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new BadPointsError(
      `${file} is not JSON (${(e as Error).message}): write an object of ` +
        `check names and points, e.g. {"content": 3, "quit": 1}`,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new BadPointsError(
      `${file} must hold a JSON object of check names and points, e.g. {"content": 3, "quit": 1}`,
    );
  }
  const names = checks.map((c) => c.name);
  const points: Record<string, number> = {};
  for (const [name, n] of Object.entries(value)) {
    if (!names.includes(name)) {
      const near = nearest(name, names);
      throw new BadPointsError(
        `${file}: "${name}" is not a check${near ? ` (did you mean "${near}"?)` : ''}; the checks are: ${names.join(', ')}`,
      );
    }
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
      throw new BadPointsError(
        `${file}: the points of "${name}" must be a number of 0 or more, not ${JSON.stringify(n)}`,
      );
    }
    points[name] = n;
  }
  return points;
}

/** Reads and checks a points file. */
export async function readPoints(
  file: string,
  checks: readonly { name: string; required: boolean }[],
): Promise<Points> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new BadPointsError(
      `cannot read the points file ${file}: ` +
        `${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give --points a JSON file ` +
        `such as {"content": 3, "quit": 1}`,
    );
  }
  return parsePoints(text, file, checks);
}
