// Host and port as people type and read them, and a free port; shared by every room but src/protocol.
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';

/** The lab's port: the default of the server, the client and the checkers. */
export const DEFAULT_PORT = 12100;

/** Where the client connects unless told otherwise. */
export const DEFAULT_HOST = 'localhost';

/** `127.0.0.1:12100`, `[::1]:12100`: an address as it is typed (IPv6 in brackets). */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export interface HostPort {
  /** Absent when the text named a port only. */
  host?: string;
  port: number;
}

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT`, `PORT` or `:PORT` (no host). Ports from `minPort` (default 0)
 * to 65535.
 * @throws TypeError saying what is accepted.
 */
export function parseHostPort(value: string, minPort = 0): HostPort {
  const text = value.trim();
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < minPort || port > 65535) {
    throw new TypeError(`expected HOST:PORT, [IPv6]:PORT or PORT (a port from ${minPort} to 65535), not "${value}"`);
  }
  const host = match[1] || match[2] || undefined;
  return host === undefined ? { port } : { host, port };
}

/** A port that was free a moment ago on `host` (found by listening on port 0, then closing). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const probe = createServer();
  probe.listen(0, host);
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}
