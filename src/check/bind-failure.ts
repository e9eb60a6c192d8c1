// A server that could not bind its listening socket, read from what it printed: which error
// (EADDRNOTAVAIL, EADDRINUSE, EACCES) and, where the output or its source tells, which address
// and port. Python's `OSError: [Errno 99] Cannot assign requested address` names neither: the
// traceback's line (`s.bind(('192.168.1.187', 12100))`) or the constants it names in the file
// (`HOST = '192.168.1.187'`) do. Node.js and Go print the address; C's perror and Java do not.
import { readFileSync } from 'node:fs';
import { lastIndex, pythonTraceback } from './crash.js';

export type BindErrorCode = 'EADDRNOTAVAIL' | 'EADDRINUSE' | 'EACCES';

export interface BindFailure {
  code: BindErrorCode;
  /** The address it asked for, when known (`0.0.0.0` for Python's `''`). */
  address?: string;
  port?: number;
  /**
   * In words, with the fix: `the server could not bind 192.168.1.187:12100: that address is not on this machine
   * (EADDRNOTAVAIL); bind '' or 0.0.0.0`.
   */
  text: string;
}

const PATTERNS: [BindErrorCode, RegExp][] = [
  ['EADDRNOTAVAIL', /cannot assign requested address|EADDRNOTAVAIL|errno 99\b|os error 99\b|address not available/i],
  ['EADDRINUSE', /address already in use|EADDRINUSE|errno 98\b|os error 98\b/i],
  ['EACCES', /permission denied|EACCES|errno 13\b|os error 13\b/i],
];

/** `192.168.1.187:12100`, `[::1]:12100` in a line. */
const ADDRESS_PORT = /(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):(\d{1,5})\b/;

function constantIn(source: string, name: string): string | undefined {
  const m = new RegExp(`^\\s*${name}\\s*=\\s*(?:(['"])(.*?)\\1|(\\d+))\\s*(?:#.*)?$`, 'm').exec(source);
  return m ? (m[2] ?? m[3]) : undefined;
}

/** The address and port of a Python `bind((HOST, PORT))` from its traceback: literals, or constants of its file. */
function pythonBindTarget(
  output: string,
  readSource: (file: string) => string | undefined,
): { address?: string; port?: number } {
  const tb = pythonTraceback(output);
  const frames = tb?.frames ?? [];
  const frame = frames[lastIndex(frames, (f) => f.source !== undefined && /\.bind\s*\(/.test(f.source))];
  const args = frame?.source && /\.bind\s*\(\s*\(\s*([^,]+?)\s*,\s*([^)]+?)\s*\)/.exec(frame.source);
  if (!frame || !args) return {};
  const source = readSource(frame.file);
  const value = (expr: string): string | undefined => {
    const literal = /^(['"])(.*)\1$/.exec(expr);
    if (literal) return literal[2];
    if (/^\d+$/.test(expr)) return expr;
    return /^[A-Za-z_]\w*$/.test(expr) && source !== undefined ? constantIn(source, expr) : undefined;
  };
  const address = value(args[1]!);
  const port = value(args[2]!);
  return {
    ...(address !== undefined ? { address: address === '' ? '0.0.0.0' : address } : {}),
    ...(port !== undefined && /^\d+$/.test(port) ? { port: Number(port) } : {}),
  };
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The sentence for a failed bind, with what to do. */
export function bindFailureText(code: BindErrorCode, address: string | undefined, port: number | undefined): string {
  const what =
    address !== undefined
      ? port !== undefined
        ? `${address.includes(':') ? `[${address}]` : address}:${port}`
        : address
      : port !== undefined
        ? `port ${port}`
        : 'its listening socket';
  switch (code) {
    case 'EADDRNOTAVAIL':
      return (
        `the server could not bind ${what}: that address is not on this machine ` +
        `(EADDRNOTAVAIL); bind '' or 0.0.0.0 (every address of the machine) instead of a fixed address`
      );
    case 'EADDRINUSE':
      return (
        `the server could not bind ${what}: the port is already in use (EADDRINUSE), by ` +
        `another program or by connections of an earlier run waiting in TIME_WAIT; set SO_REUSEADDR before bind()`
      );
    case 'EACCES':
      return (
        `the server could not bind ${what}: permission denied (EACCES); ports below 1024 need ` +
        `privileges: use a port above 1023, such as 12100`
      );
  }
}

/**
 * The failed bind in a server's output, if it printed one. `readSource` reads a source file a
 * Python traceback names (to resolve `HOST`/`PORT`); by default from disk.
 */
export function findBindFailure(
  output: string,
  readSource: (file: string) => string | undefined = readText,
): BindFailure | undefined {
  const lines = output.split(/\r?\n/).filter((l) => l.trim() !== '');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    const found = PATTERNS.find(([, re]) => re.test(line));
    if (!found) continue;
    const [code] = found;
    // "Permission denied" is a bind failure only when the output speaks of binding or listening.
    if (code === 'EACCES' && !/\bbind|listen/i.test(output)) continue;
    let address: string | undefined;
    let port: number | undefined;
    const near = [line, lines[i - 1] ?? ''].map((l) => ADDRESS_PORT.exec(l)).find((m) => m !== null);
    if (near) {
      address = near[1]!.replace(/^\[|\]$/g, '');
      port = Number(near[2]);
    } else {
      ({ address, port } = pythonBindTarget(output, readSource));
    }
    return {
      code,
      ...(address !== undefined ? { address } : {}),
      ...(port !== undefined ? { port } : {}),
      text: bindFailureText(code, address, port),
    };
  }
  return undefined;
}
