// The option parsers shared by every command. Each throws commander's InvalidArgumentError, which
// commander prints after the option and the value ("option '--port <port>' argument 'x' is
// invalid."), and which `main` turns into exit status 2.
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { EventEmitter } from 'node:events';
import { DEFAULT_PORT, parseHostPort, type HostPort } from '../net-address.js';
import { formatSetting, type NumberSetting } from '../setting-table.js';
import { formatBytes, formatDuration } from '../text.js';

/** A whole number from `min` to `max`. */
export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max)
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/**
 * A duration, in milliseconds: `500ms`, `30s`, `1.5s`, `2m`, `1h`; a bare number is in `unit`
 * (the flag's documented unit). From `minMs` to `maxMs`.
 */
export function duration(unit: 'ms' | 's', minMs: number, maxMs: number): (value: string) => number {
  const bare = unit === 's' ? 'seconds' : 'milliseconds';
  const accepted =
    `expected a duration from ${formatDuration(minMs)} to ${formatDuration(maxMs)} ` +
    `such as 500ms, 30s or 2m (a bare number is in ${bare})`;
  return (value: string): number => {
    const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|sec|m|min|h)?$/i.exec(value.trim());
    if (!m) throw new InvalidArgumentError(accepted);
    const ms = Math.round(Number(m[1]) * DURATION_UNITS[(m[2] ?? unit).toLowerCase()]!);
    if (ms < minMs || ms > maxMs) throw new InvalidArgumentError(accepted);
    return ms;
  };
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

/**
 * A size in bytes: `512`, `512k`, `100M`, `4GiB` (K, M, G, T and KiB, MiB, ... are powers of 1024;
 * KB, MB, GB, TB powers of 1000), at most `max`.
 */
export function size(max: number): (value: string) => number {
  const accepted =
    `expected a size up to ${formatBytes(max)} such as 512, 512k, 100M or 4GiB (K, ` +
    `M, G: powers of 1024; KB, MB, GB: of 1000)`;
  return (value: string): number => {
    const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
    const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) throw new InvalidArgumentError(accepted);
    const n = Number(m[1]) * unit;
    if (!Number.isInteger(n) || n > max)
      throw new InvalidArgumentError(n > max ? accepted : `not a whole number of bytes; ${accepted}`);
    return n;
  };
}

/** `HOST:PORT`, `[IPv6]:PORT`, `PORT` or `:PORT` (all interfaces): an address to listen on. */
export function listenAddress(value: string): HostPort {
  try {
    return parseHostPort(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** `host:port`, `[::1]:port`, or a bare port (localhost): a server to reach. */
export function target(value: string): { host: string; port: number } {
  try {
    const { host = 'localhost', port } = parseHostPort(value, 1);
    return { host, port };
  } catch {
    throw new InvalidArgumentError('expected HOST:PORT, e.g. 127.0.0.1:12100 (or [::1]:12100, or just a port)');
  }
}

/**
 * Gives `command`'s option `flag` its default once that is known (it lives with the command's own
 * code, loaded when the command is used): shown in the help as `text`, and the option's value unless
 * the command line or the environment gives one. Commander sets a default as the value only when
 * the option is added, so changing the option's default later would change just the help.
 */
export function lateDefault(command: Command, flag: string, value: unknown, text: string): void {
  const option = command.options.find((o) => o.long === flag);
  if (option === undefined) throw new Error(`linedrop ${command.name()} has no option ${flag}`);
  option.default(value, text);
  const key = option.attributeName();
  if (command.getOptionValueSource(key) === undefined) command.setOptionValueWithSource(key, value, 'default');
}

/**
 * The flag of a numeric setting, made from its row of the settings table: its help, environment
 * variable, default and range (a duration with units, a bare number in seconds; a size with
 * suffixes; a whole number).
 */
export function settingOption(setting: NumberSetting): Option {
  const parse =
    setting.unit === 'ms'
      ? duration('s', setting.min, setting.max)
      : setting.unit === 'bytes'
        ? size(setting.max)
        : wholeNumber(setting.min, setting.max);
  const shown = setting.unit === 'count' ? undefined : formatSetting(setting);
  return new Option(setting.flag, setting.help).env(setting.env).default(setting.default, shown).argParser(parse);
}

/** `-p, --port`, from `LINEDROP_PORT` too. */
export const portOption = (): Option =>
  new Option('-p, --port <port>', 'TCP port')
    .env('LINEDROP_PORT')
    .default(DEFAULT_PORT)
    .argParser(wholeNumber(0, 65535));

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

/**
 * A boolean environment variable: `1`, `true`, `yes`, `on` / `0`, `false`, `no`, `off` (any case,
 * blanks around ignored); undefined for anything else.
 */
export function parseBoolean(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (TRUE.includes(v)) return true;
  if (FALSE.includes(v)) return false;
  return undefined;
}

/**
 * Commander turns a boolean flag on whenever its environment variable is set, whatever its value
 * (`LINEDROP_ONCE=0` would mean "once"). This makes every boolean flag of `command` and its
 * subcommands read the value instead, and refuse anything but the words `parseBoolean` knows as a
 * usage error naming the variable.
 */
export function strictBooleanEnv(command: Command): void {
  for (const option of command.options) {
    const envVar = option.envVar;
    if (envVar === undefined || !option.isBoolean()) continue;
    const event = `optionEnv:${option.name()}`;
    const emitter = command as unknown as EventEmitter;
    emitter.removeAllListeners(event);
    emitter.on(event, () => {
      const text = process.env[envVar] ?? '';
      const on = parseBoolean(text);
      if (on === undefined) {
        command.error(
          `error: environment variable ${envVar}=${JSON.stringify(text)} ` +
            `(${option.long ?? option.flags}) is invalid: expected 1, true, yes or on, or 0, false, no or off`,
          { code: 'linedrop.invalidEnv', exitCode: 2 },
        );
      }
      command.setOptionValueWithSource(option.attributeName(), option.negate ? !on : on, 'env');
    });
  }
  for (const sub of command.commands) strictBooleanEnv(sub);
}
