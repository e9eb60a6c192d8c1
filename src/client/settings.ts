// The client's settings in one table: each option's name, default, range, unit, environment
// variable, flag and help. `connectSettings()` (options.ts) checks a caller's options against it and
// fills in its defaults; `linedrop send` makes its flags from it; a test holds the README's flag
// table to it.
import { IN_FLIGHT, MAX_DURATION_MS, type NumberSetting } from '../setting-table.js';

export const CLIENT_SETTINGS = {
  connectTimeoutMs: {
    option: 'connectTimeoutMs',
    flag: '--connect-timeout <duration>',
    env: 'LINEDROP_CONNECT_TIMEOUT',
    default: 10_000,
    min: 0,
    max: MAX_DURATION_MS,
    unit: 'ms',
    help:
      'give up a connection attempt with no answer after this long (0: never; 10s, 1m, ...; a ' +
      'bare number is in seconds); exit 3',
  },
  timeoutMs: {
    option: 'timeoutMs',
    flag: '--timeout <duration>',
    env: 'LINEDROP_TIMEOUT',
    default: 60_000,
    min: 0,
    max: MAX_DURATION_MS,
    unit: 'ms',
    help:
      'give up when the server neither reads nor answers for this long (0: wait forever; 30s, ' +
      '2m, ...; a bare number is in seconds); exit 4',
  },
  maxInFlight: {
    ...IN_FLIGHT,
    help: "files sent ahead of their answers (1: wait for each answer, as the lab's client does)",
  },
} as const satisfies Record<string, NumberSetting>;

export type ClientSettingName = keyof typeof CLIENT_SETTINGS;
