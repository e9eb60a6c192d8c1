// The server's options: their types, defaults and validation.
import type { Limits } from '../protocol/limits.js';
import type { StorageChoice } from '../storage/open.js';
import { AllowList } from './access.js';
import type { Logger } from './logger.js';
import { checkSetting } from '../setting-table.js';
import { SERVER_SETTINGS } from './settings.js';

/** Defaults of the connection limits; see `ServerOptions` and `SERVER_SETTINGS`. */
export const DEFAULT_IDLE_TIMEOUT_MS = SERVER_SETTINGS.idleTimeoutMs.default;
export const DEFAULT_MAX_CONNECTIONS = SERVER_SETTINGS.maxConnections.default;
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = SERVER_SETTINGS.maxConnectionsPerAddress.default;
export const DEFAULT_SHUTDOWN_DEADLINE_MS = SERVER_SETTINGS.shutdownDeadlineMs.default;
export const DEFAULT_SERVER_MAX_IN_FLIGHT = SERVER_SETTINGS.maxInFlight.default;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = SERVER_SETTINGS.handshakeTimeoutMs.default;

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
  /**
   * Close a connection that sends no byte for this long while a count or a message is awaited (default 300 s; 0: never;
   * at most a day).
   */
  idleTimeoutMs?: number;
  /**
   * Messages of one connection whose commit (data flush, rename, folder flush) may be in progress
   * while the next ones are read and written (default 64, at most 1024; and while they hold at most 16 MiB, a
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
  /**
   * How long a new connection may take to finish its TLS handshake or send its PROXY header (default 10 s); then it is
   * closed.
   */
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

/** What one connection needs of the settings: its limits, its idle timeout, and whether the quit message is saved. */
export type ConnectionOptions = Pick<ServerSettings, 'limits' | 'idleTimeoutMs' | 'saveEmpty' | 'maxInFlight'>;

/** `ServerOptions` checked, with every default filled in: what a server runs with. */
export interface ServerSettings {
  limits: Limits;
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  maxInFlight: number;
  saveEmpty: boolean;
  allowList: AllowList | undefined;
  proxyProtocol: boolean;
}

/** `--instance-id`: it goes into folder names. */
const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Options that say where files go, which a given `storage` replaces. */
const STORAGE_CHOICES = ['dir', 's3', 'layout', 'instanceId'] as const;

/**
 * Checks the options a server is made with against `SERVER_SETTINGS`, once, with the command
 * line's wording, and fills in the defaults, so a mistake stops `new LinedropServer()` instead of a
 * connection later.
 * @throws TypeError for a value of the wrong type or options that cannot be combined; RangeError
 *   for a number out of range.
 */
export function serverSettings(options: ServerOptions): ServerSettings {
  const s = SERVER_SETTINGS;
  const limits: Limits = {
    maxLines: checkSetting(s.maxLines, options.limits?.maxLines),
    maxLineBytes: checkSetting(s.maxLineBytes, options.limits?.maxLineBytes),
    maxMessageBytes: checkSetting(s.maxMessageBytes, options.limits?.maxMessageBytes),
  };
  if (options.layout !== undefined && options.layout !== 'flat' && options.layout !== 'session') {
    throw new TypeError(`layout: expected "flat" or "session", not ${JSON.stringify(options.layout)}`);
  }
  if (
    options.instanceId !== undefined &&
    (typeof options.instanceId !== 'string' || !INSTANCE_ID.test(options.instanceId))
  ) {
    throw new TypeError(
      `instanceId: expected 1 to 64 letters, digits, "_", "." or "-", starting with a letter or ` +
        `digit, not ${JSON.stringify(options.instanceId)}`,
    );
  }
  if (options.storage !== undefined) {
    const also = STORAGE_CHOICES.find((name) => options[name] !== undefined);
    if (also !== undefined) {
      throw new TypeError(
        `storage and ${also} cannot be combined: storage is where files go; give ` +
          `${also} to the storage you make, or drop storage`,
      );
    }
  }
  if (options.s3 !== undefined && options.dir !== undefined) {
    throw new TypeError('s3 and dir cannot be combined: files go to the bucket or to the folder; drop one');
  }
  if (options.tls && (!options.tls.cert || !options.tls.key)) throw new TypeError('tls: needs both cert and key');
  if (options.tls && options.proxyProtocol) {
    throw new TypeError('the PROXY protocol and TLS cannot be combined: terminate TLS at the proxy');
  }
  return {
    limits,
    idleTimeoutMs: checkSetting(s.idleTimeoutMs, options.idleTimeoutMs),
    handshakeTimeoutMs: checkSetting(s.handshakeTimeoutMs, options.handshakeTimeoutMs),
    maxConnections: checkSetting(s.maxConnections, options.maxConnections),
    maxConnectionsPerAddress: checkSetting(s.maxConnectionsPerAddress, options.maxConnectionsPerAddress),
    maxInFlight: checkSetting(s.maxInFlight, options.maxInFlight),
    saveEmpty: options.saveEmpty === true,
    // Throws naming the entry that is not an address or range.
    allowList: options.allow !== undefined ? new AllowList(options.allow) : undefined,
    proxyProtocol: options.proxyProtocol === true,
  };
}
