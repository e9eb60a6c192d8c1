import type { Limits } from '../protocol/limits.js';
import type { StorageChoice } from '../storage/open.js';
import type { Logger } from './logger.js';

export { DEFAULT_PORT } from '../net-address.js';

/** Defaults of the connection limits; see `ServerOptions`. */
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 64;
export const DEFAULT_SHUTDOWN_DEADLINE_MS = 10_000;
export const DEFAULT_SERVER_MAX_IN_FLIGHT = 16;
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
   * while the next ones are read and written (default 16). Answers still go out in order, each
   * after its own file is stored. 1: each message is stored and answered before the next is read.
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

/**
 * Checks the options a server is made with.
 * @throws TypeError naming what is wrong.
 */
export function checkServerOptions(options: ServerOptions): void {
  if (options.tls && options.proxyProtocol) {
    throw new TypeError('the PROXY protocol and TLS cannot be combined: terminate TLS at the proxy');
  }
  const inFlight = options.maxInFlight;
  if (inFlight !== undefined && !(Number.isInteger(inFlight) && inFlight >= 1)) {
    throw new TypeError(`maxInFlight must be a whole number of at least 1, not ${String(inFlight)}`);
  }
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
