// Whether to colour a report: one rule for every command that prints one.

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Colours for `stream`, as Node itself decides them: `FORCE_COLOR` set to anything but `0` or
 * `false` turns them on (even into a pipe or a file), `FORCE_COLOR=0` or a non-empty `NO_COLOR`
 * (https://no-color.org) turns them off; otherwise only on a terminal that is not `TERM=dumb`.
 */
export function wantsColour(stream: unknown, env: Env = process.env): boolean {
  const force = env['FORCE_COLOR'];
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if (env['NO_COLOR']) return false;
  if (env['TERM'] === 'dumb') return false;
  return (stream as { isTTY?: boolean } | null)?.isTTY === true;
}

export interface Style {
  pass(s: string): string;
  fail(s: string): string;
  skip(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

export const plain: Style = { pass: (s) => s, fail: (s) => s, skip: (s) => s, dim: (s) => s, bold: (s) => s };

const ansi = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const coloured: Style = {
  pass: ansi(32, 39),
  fail: ansi(31, 39),
  skip: ansi(33, 39),
  dim: ansi(2, 22),
  bold: ansi(1, 22),
};

export function style(colour: boolean): Style {
  return colour ? coloured : plain;
}

/** The style for a stream: colours only when `wantsColour` says so. */
export function styleFor(stream: unknown, env: Env = process.env): Style {
  return style(wantsColour(stream, env));
}
