// The error model shared by every room: `LinedropError`, the base of every error linedrop makes,
// and the codes of the arguments a caller got wrong (`TypeError`, `RangeError`, as Node.js does).
// It imports nothing, so the protocol may build on it too. docs/errors.md lists every code.

/**
 * The base of every error linedrop throws or emits for what went wrong outside the caller's
 * arguments: what the peer sent, the connection, a file, the storage. `code` is stable
 * (`LINEDROP_ERR_*`): programs match on it, never on the message. A caller's mistake is a
 * `TypeError` or a `RangeError` instead (see `invalidType`, `outOfRange`).
 */
export class LinedropError<Code extends string = string> extends Error {
  override name = 'LinedropError';
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The codes a caller's `TypeError` carries, as Node.js gives its own (`ERR_INVALID_ARG_TYPE`). */
export type TypeErrorCode =
  | 'LINEDROP_ERR_INVALID_ARG_TYPE'
  | 'LINEDROP_ERR_INVALID_ARG_VALUE'
  | 'LINEDROP_ERR_INVALID_LINE';

/** The codes a caller's `RangeError` carries. */
export type RangeErrorCode =
  | 'LINEDROP_ERR_OUT_OF_RANGE'
  | 'LINEDROP_ERR_COUNT_OUT_OF_RANGE'
  | 'LINEDROP_ERR_EMPTY_MESSAGE';

/**
 * A caller's argument of the wrong type or shape, worded as the command line words it: `layout: expected "flat" or
 * "session", not "x"`.
 */
export function invalidArgument(
  message: string,
  code: TypeErrorCode = 'LINEDROP_ERR_INVALID_ARG_VALUE',
): TypeError & { code: TypeErrorCode } {
  return Object.assign(new TypeError(message), { code });
}

/** A caller's number outside what it may be: `maxInFlight: expected a whole number from 1 to 1024, not 0`. */
export function outOfRange(
  message: string,
  code: RangeErrorCode = 'LINEDROP_ERR_OUT_OF_RANGE',
): RangeError & { code: RangeErrorCode } {
  return Object.assign(new RangeError(message), { code });
}

/**
 * Checks a whole-number argument: a `TypeError` for what is not a number, a `RangeError` for a
 * number that is not whole or lies outside `min` .. `max` (`max` left out: no upper bound).
 */
export function checkWholeNumber(name: string, value: unknown, min: number, max?: number): void {
  const expected = max === undefined ? `a whole number of at least ${min}` : `a whole number from ${min} to ${max}`;
  if (typeof value !== 'number')
    throw invalidArgument(`${name}: expected ${expected}, not ${describe(value)}`, 'LINEDROP_ERR_INVALID_ARG_TYPE');
  if (!Number.isSafeInteger(value) || value < min || (max !== undefined && value > max))
    throw outOfRange(`${name}: expected ${expected}, not ${value}`);
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
