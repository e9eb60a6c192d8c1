// A setting as a row of data (its option, flag, environment variable, default, range, unit and
// help), how its value is checked, and how its default is shown: what the server's and the
// client's settings tables (`server/settings.ts`, `client/settings.ts`) are made of.
import { invalidArgument, outOfRange } from './errors.js';
import { formatBytes, formatDuration } from './text.js';

/** What a number counts: a duration in milliseconds, a size in bytes, or a plain count. */
export type SettingUnit = 'ms' | 'bytes' | 'count';

/** One numeric setting. */
export interface NumberSetting {
  /** The library's option (`limits.maxLines` is `maxLines` in `limits`). */
  option: string;
  /** The command line's flag, with its value's name. */
  flag: `--${string} <${string}>`;
  env: `LINEDROP_${string}`;
  default: number;
  min: number;
  max: number;
  unit: SettingUnit;
  /** The flag's help, as `--help` shows it. */
  help: string;
}

/** The longest duration a setting takes: a day (timers overflow past about 24.8 days). */
export const MAX_DURATION_MS = 24 * 3_600_000;

/**
 * `maxInFlight` and `--max-in-flight`, the same on both sides: the client sends as many messages
 * ahead of their answers as the server commits at once. Each side adds its help.
 */
export const IN_FLIGHT = {
  option: 'maxInFlight',
  flag: '--max-in-flight <n>',
  env: 'LINEDROP_MAX_IN_FLIGHT',
  default: 64,
  min: 1,
  max: 1024,
  unit: 'count',
} as const;

/** A setting's default as `--help` and the README show it: `5 min`, `1.0 MiB`, `1024`. */
export function formatSetting(setting: NumberSetting, value: number = setting.default): string {
  if (setting.unit === 'ms') return formatDuration(value);
  if (setting.unit === 'bytes') return formatBytes(value);
  return String(value);
}

/** The range a setting takes, worded as the command line words it. */
function expected(setting: NumberSetting): string {
  if (setting.unit === 'ms') {
    return `a number of milliseconds from ${setting.min} to ${setting.max}${setting.min === 0 ? ' (0: never)' : ''}`;
  }
  return `a whole number from ${setting.min} to ${setting.max}`;
}

/**
 * `value` checked against `setting`, or its default when undefined. `name` is the option as the
 * caller wrote it.
 * @throws TypeError for a value that is not a number; RangeError for one out of range (or not whole).
 */
export function checkSetting(setting: NumberSetting, value: unknown, name: string = setting.option): number {
  if (value === undefined) return setting.default;
  if (typeof value !== 'number')
    throw invalidArgument(
      `${name}: expected ${expected(setting)}, not ${describe(value)}`,
      'LINEDROP_ERR_INVALID_ARG_TYPE',
    );
  const whole = setting.unit === 'ms' ? Number.isFinite(value) : Number.isSafeInteger(value);
  if (!whole || value < setting.min || value > setting.max)
    throw outOfRange(`${name}: expected ${expected(setting)}, not ${String(value)}`);
  return value;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
