// What a caller can set: for a connection (`ConnectOptions`) and for each message (`SendOptions`),
// the defaults, and the check of a connection's settings before anything is opened.
import { DEFAULT_HOST, DEFAULT_PORT } from '../net-address.js';
import { checkSetting } from '../setting-table.js';
import type { FileShape } from './measure.js';
import { CLIENT_SETTINGS } from './settings.js';

/** `ConnectOptions.connectTimeoutMs`: how long connecting (and the TLS handshake) may take. */
export const DEFAULT_CONNECT_TIMEOUT_MS = CLIENT_SETTINGS.connectTimeoutMs.default;
/** `ConnectOptions.timeoutMs`: how long the server may stay silent while the client waits for it. */
export const DEFAULT_CLIENT_TIMEOUT_MS = CLIENT_SETTINGS.timeoutMs.default;
/**
 * `ConnectOptions.maxInFlight`: messages sent whose status has not come back yet. As many as
 * `linedrop receive` commits at once (its `--max-in-flight`), so that it can take them all into
 * one commit while the next ones wait in the socket.
 */
export const DEFAULT_MAX_IN_FLIGHT = CLIENT_SETTINGS.maxInFlight.default;

export interface ConnectOptions {
  host?: string;
  port?: number;
  /**
   * Give up connecting (TLS handshake included) after this many milliseconds (default 10 s; 0: never; at most a day).
   */
  connectTimeoutMs?: number;
  /**
   * Close the connection when, while the client waits for the server (a status owed, or a write
   * the server does not take), no byte is sent or received for this many milliseconds (default 60 s;
   * 0: wait forever). Time spent waiting for the caller (for example for the next line a person
   * types) does not count.
   */
  timeoutMs?: number;
  /**
   * Messages sent whose status has not come back yet (default 64, at most 1024; 1: wait for each status before
   * sending the next message, as the lab's client does).
   */
  maxInFlight?: number;
  /** Connect with TLS (`true`: verify the server against the system's CAs). */
  tls?: boolean | ClientTlsOptions;
}

export interface ClientTlsOptions {
  /** PEM CA certificate(s) to verify the server with, instead of the system's. */
  ca?: string | Buffer;
  /** PEM client certificate and key, for servers that require them (mutual TLS). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Name to verify the server's certificate against (default: the host). */
  servername?: string;
}

export interface SendOptions {
  /** Called as body bytes are handed to the socket, with the running total for this file. */
  onProgress?: (bytesSent: number) => void;
  /** Called once every byte of the message has been handed to the socket; the status comes next. */
  onSent?: () => void;
  /**
   * `sendFile` only: the file's shape as `measureFile` gave it, when the caller has measured it
   * already; the file is then read once, to send it. It is still checked while it is sent: a file
   * that no longer matches fails with `LINEDROP_ERR_FILE_CHANGED`.
   */
  shape?: FileShape;
}

/** `ConnectOptions` with every default filled in (`tls` undefined for plain TCP). */
export interface ConnectSettings {
  host: string;
  port: number;
  connectTimeoutMs: number;
  timeoutMs: number;
  maxInFlight: number;
  tls: ClientTlsOptions | undefined;
}

/**
 * Checks the options against `CLIENT_SETTINGS` and fills in the defaults.
 * @throws TypeError for a value of the wrong type; RangeError for a timeout or window out of range.
 */
export function connectSettings(options: ConnectOptions): ConnectSettings {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  const connectTimeoutMs = checkSetting(CLIENT_SETTINGS.connectTimeoutMs, options.connectTimeoutMs);
  const timeoutMs = checkSetting(CLIENT_SETTINGS.timeoutMs, options.timeoutMs);
  const maxInFlight = checkSetting(CLIENT_SETTINGS.maxInFlight, options.maxInFlight);
  const tls = options.tls === true ? {} : options.tls || undefined;
  return { host, port, connectTimeoutMs, timeoutMs, maxInFlight, tls };
}
