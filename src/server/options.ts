import { checkWholeNumber } from '../errors.js';
import { MAX_WIRE_COUNT, type Limits } from '../protocol/limits.js';
import type { StorageChoice } from '../storage/open.js';
import { AllowList } from './access.js';
import type { Logger } from './logger.js';

/** Defaults of the connection limits; see `ServerOptions`. */
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 64;
export const DEFAULT_SHUTDOWN_DEADLINE_MS = 10_000;
export const DEFAULT_SERVER_MAX_IN_FLIGHT = 64;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TlsOptions {
  /** PEM certificate chain and private key of the server. */
  cert: string | Buffer;
  key: string | Buffer;
  /** PEM CA certificate(s): when given, clients must present a certificate it signed (mutual TLS). */
  clientCa?: string | Buffer;
}

export interface ServerOptions extends StorageChoice {
  /** Also save the zero-line message, as the next `k.txt` (empty). */
  saveEmpty?: boolean;
  limits?: Partial<Limits>;
  logger?: Logger;
  /** Close a connection that sends no byte for this long while a count or a message is awaited (default 300 s; 0: never). */
  idleTimeoutMs?: number;
  /**
   * Messages of one connection whose commit (data flush, rename, folder flush) may be in progress
   * while the next ones are read and written (default 64; and while they hold at most 16 MiB, a
   * larger message going alone). Answers still go out in order, each after its own file is
   * stored. 1: each message is stored and answered before the next is read.
   * Storage whose commits cannot overlap (object storage) always works one message at a time.
   */
  maxInFlight?: number;
  /**
   * Sockets open at once, counted from the moment each is accepted, whatever it waits for (its
   * TLS handshake, its PROXY header, the next message); more are closed as soon as they connect
   * (default 1024).
   */
  maxConnections?: number;
  /** Connections open at once from one client address (default 64). */
  maxConnectionsPerAddress?: number;
  /** Only these client addresses or CIDR ranges may connect; others are closed at once. */
  allow?: readonly string[];
  /** How long a new connection may take to finish its TLS handshake or send its PROXY header (default 10 s); then it is closed. */
  handshakeTimeoutMs?: number;
  /** Serve TLS instead of plain TCP. */
  tls?: TlsOptions;
  /**
   * Every connection starts with a PROXY protocol header (v1 or v2, as HAProxy sends with
   * `send-proxy`): logs, limits and the allowlist see the client it names. A connection without
   * one is closed. Not with `tls` (terminate TLS at the proxy).
   */
  proxyProtocol?: boolean;
}

/** What one connection needs of the options: its limits, its idle timeout, and whether the quit message is saved. */
export interface ConnectionOptions {
  limits: Partial<Limits> | undefined;
  idleTimeoutMs: number;
  saveEmpty: boolean;
  maxInFlight: number;
}

/** The ranges the options must be in: the same as the command line's flags. */
const WHOLE_RANGES = {
  'limits.maxLines': [0, MAX_WIRE_COUNT],
  'limits.maxLineBytes': [0, Number.MAX_SAFE_INTEGER],
  'limits.maxMessageBytes': [0, Number.MAX_SAFE_INTEGER],
  maxConnections: [1, 1_000_000],
  maxConnectionsPerAddress: [1, 1_000_000],
} as const;

/** `--instance-id`: it goes into folder names. */
const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Checks the options a server is made with, once, with the command line's wording, so a mistake
 * stops `new LinedropServer()` instead of a connection later.
 * @throws TypeError or RangeError naming the option and what it expects.
 */
export function checkServerOptions(options: ServerOptions): void {
  const values: Record<keyof typeof WHOLE_RANGES, unknown> = {
    'limits.maxLines': options.limits?.maxLines,
    'limits.maxLineBytes': options.limits?.maxLineBytes,
    'limits.maxMessageBytes': options.limits?.maxMessageBytes,
    maxConnections: options.maxConnections,
    maxConnectionsPerAddress: options.maxConnectionsPerAddress,
  };
  for (const [name, [min, max]] of Object.entries(WHOLE_RANGES) as [keyof typeof WHOLE_RANGES, readonly [number, number]][]) {
    const value = values[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new RangeError(`${name}: expected a whole number from ${min} to ${max}, not ${String(value)}`);
    }
  }
  for (const name of ['idleTimeoutMs', 'handshakeTimeoutMs'] as const) {
    const value: unknown = options[name];
    if (value === undefined) continue;
    const least = name === 'handshakeTimeoutMs' ? 1 : 0;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < least) {
      throw new RangeError(`${name}: expected a number of milliseconds ${least === 0 ? '>= 0 (0: never)' : '> 0'}, not ${String(value)}`);
    }
  }
  if (options.layout !== undefined && options.layout !== 'flat' && options.layout !== 'session') {
    throw new TypeError(`layout: expected "flat" or "session", not ${JSON.stringify(options.layout)}`);
  }
  if (options.instanceId !== undefined && (typeof options.instanceId !== 'string' || !INSTANCE_ID.test(options.instanceId))) {
    throw new TypeError(
      `instanceId: expected 1 to 64 letters, digits, "_", "." or "-", starting with a letter or digit, not ${JSON.stringify(options.instanceId)}`,
    );
  }
  if (options.allow !== undefined) new AllowList(options.allow); // throws naming the entry that is not an address or range
  if (options.tls && (!options.tls.cert || !options.tls.key)) throw new TypeError('tls: needs both cert and key');
  if (options.tls && options.proxyProtocol) {
    throw new TypeError('the PROXY protocol and TLS cannot be combined: terminate TLS at the proxy');
  }
  if (options.maxInFlight !== undefined) checkWholeNumber('maxInFlight', options.maxInFlight, 1);
}

/** The part of the options a connection gets. */
export function connectionOptions(options: ServerOptions): ConnectionOptions {
  return {
    limits: options.limits,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    saveEmpty: options.saveEmpty === true,
    maxInFlight: options.maxInFlight ?? DEFAULT_SERVER_MAX_IN_FLIGHT,
  };
}
