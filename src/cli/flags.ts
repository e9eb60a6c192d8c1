// The option parsers shared by every command: each throws commander's InvalidArgumentError,
// which commander turns into a usage error naming the option.
import { InvalidArgumentError, Option } from 'commander';
import { parseListenAddress } from '../server/metrics.js';
import { DEFAULT_PORT } from '../server/server.js';

/** A whole number from `min` to `max`. */
export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

/** Seconds, fractions allowed. */
export function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds >= 0');
  return n;
}

/** `HOST:PORT`, `[IPv6]:PORT`, `PORT` or `:PORT` (all interfaces): an address to listen on. */
export function listenAddress(value: string): { host?: string; port: number } {
  try {
    return parseListenAddress(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** `host:port`, `[::1]:port`, or a bare port (localhost): a server to reach. */
export function target(value: string): { host: string; port: number } {
  const text = value.trim();
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text) ?? /^()(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError('expected HOST:PORT, e.g. 127.0.0.1:12100 (or [::1]:12100, or just a port)');
  }
  return { host: m[1] || 'localhost', port };
}

/** `-p, --port`, from `LINEDROP_PORT` too. */
export const portOption = (): Option =>
  new Option('-p, --port <port>', 'TCP port').env('LINEDROP_PORT').default(DEFAULT_PORT).argParser(wholeNumber(0, 65535));
