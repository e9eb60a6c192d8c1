// The server's settings in one table: each option's name, default, range, unit, environment
// variable, flag and help. `serverSettings()` (options.ts) checks a caller's options against it and
// fills in its defaults; `linedrop receive` makes its flags from it; a test holds the README's
// flag table to it. So the library, the command line, `--help`, completion and the README cannot
// drift apart.
import { DEFAULT_LIMITS, MAX_WIRE_COUNT } from '../protocol/limits.js';
import { DEFAULT_DIR, DEFAULT_LAYOUT } from '../storage/types.js';
import { IN_FLIGHT, MAX_DURATION_MS, type NumberSetting } from '../setting-table.js';

/** A duration flag's help says how it is written. */
const DURATION = (zero?: string): string => `10s, 5m, ...; a bare number is in seconds${zero ? `; 0: ${zero}` : ''}`;

/**
 * The server's numeric settings, in the order `linedrop receive --help` lists them. The metrics
 * endpoint's are options of `startMetricsServer` (`maxConnections`, `idleTimeoutMs`).
 */
export const SERVER_SETTINGS = {
  maxLines: {
    option: 'limits.maxLines',
    flag: '--max-lines <n>',
    env: 'LINEDROP_MAX_LINES',
    default: DEFAULT_LIMITS.maxLines,
    min: 0,
    max: MAX_WIRE_COUNT,
    unit: 'count',
    help: 'most lines in one message',
  },
  maxLineBytes: {
    option: 'limits.maxLineBytes',
    flag: '--max-line-bytes <size>',
    env: 'LINEDROP_MAX_LINE_BYTES',
    default: DEFAULT_LIMITS.maxLineBytes,
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    unit: 'bytes',
    help: 'most bytes in one line, without its \\n (512k, 1M, ...)',
  },
  maxMessageBytes: {
    option: 'limits.maxMessageBytes',
    flag: '--max-message-bytes <size>',
    env: 'LINEDROP_MAX_MESSAGE_BYTES',
    default: DEFAULT_LIMITS.maxMessageBytes,
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    unit: 'bytes',
    help: 'most bytes in one message (100M, 4GiB, ...)',
  },
  idleTimeoutMs: {
    option: 'idleTimeoutMs',
    flag: '--idle-timeout <duration>',
    env: 'LINEDROP_IDLE_TIMEOUT',
    default: 300_000,
    min: 0,
    max: MAX_DURATION_MS,
    unit: 'ms',
    help:
      'close a connection that sends nothing for this long while a count or message is awaited ' +
      '(30s, 5m, ...; a bare number is in seconds; 0: never)',
  },
  handshakeTimeoutMs: {
    option: 'handshakeTimeoutMs',
    flag: '--handshake-timeout <duration>',
    env: 'LINEDROP_HANDSHAKE_TIMEOUT',
    default: 10_000,
    min: 1,
    max: MAX_DURATION_MS,
    unit: 'ms',
    help:
      `close a new connection that has not finished its TLS handshake or sent its PROXY header ` +
      `after this long (${DURATION()})`,
  },
  maxConnections: {
    option: 'maxConnections',
    flag: '--max-connections <n>',
    env: 'LINEDROP_MAX_CONNECTIONS',
    default: 1024,
    min: 1,
    max: 1_000_000,
    unit: 'count',
    help: 'connections open at once; more are closed on connect',
  },
  maxConnectionsPerAddress: {
    option: 'maxConnectionsPerAddress',
    flag: '--max-connections-per-address <n>',
    env: 'LINEDROP_MAX_CONNECTIONS_PER_ADDRESS',
    default: 64,
    min: 1,
    max: 1_000_000,
    unit: 'count',
    help: 'connections open at once from one client address',
  },
  maxInFlight: {
    ...IN_FLIGHT,
    help:
      'messages of one connection being stored at once while the next are read, at most 16 MiB ' +
      'of them (answers stay in order; 1: one at a time)',
  },
  shutdownDeadlineMs: {
    option: 'shutdown(deadlineMs)',
    flag: '--shutdown-deadline <duration>',
    env: 'LINEDROP_SHUTDOWN_DEADLINE',
    default: 10_000,
    min: 0,
    max: MAX_DURATION_MS,
    unit: 'ms',
    help:
      'on SIGINT/SIGTERM/SIGHUP, how long messages in progress may take to finish (10s, 1m, ' +
      '...; a bare number is in seconds)',
  },
  metricsMaxConnections: {
    option: 'startMetricsServer: maxConnections',
    flag: '--metrics-max-connections <n>',
    env: 'LINEDROP_METRICS_MAX_CONNECTIONS',
    default: 16,
    min: 1,
    max: 1_000_000,
    unit: 'count',
    help:
      'with --metrics: connections the endpoint holds at once; a new one closes the oldest that ' +
      'has sent no request',
  },
  metricsIdleTimeoutMs: {
    option: 'startMetricsServer: idleTimeoutMs',
    flag: '--metrics-idle-timeout <duration>',
    env: 'LINEDROP_METRICS_IDLE_TIMEOUT',
    default: 10_000,
    min: 1,
    max: MAX_DURATION_MS,
    unit: 'ms',
    help:
      `with --metrics: close an endpoint connection silent this long, before its request or ` +
      `between requests (${DURATION()})`,
  },
} as const satisfies Record<string, NumberSetting>;

export type ServerSettingName = keyof typeof SERVER_SETTINGS;

/** Where `receive` saves files, and how, unless told otherwise: the storage's own defaults. */
export const STORAGE_DEFAULTS = { dir: DEFAULT_DIR, layout: DEFAULT_LAYOUT } as const;
