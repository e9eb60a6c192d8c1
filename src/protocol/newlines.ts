// Counting the `\n` bytes of a file (and seeing whether it holds a NUL byte), the client's hottest
// loop, and the server's for the chunks in the middle of a long message: a small WebAssembly module
// (newlines.wat, assembled into newlines-wasm.ts) compares 16 bytes at a time (SIMD), several times
// faster than one `indexOf` per line, and as fast for lines of a few bytes as for long ones. Where
// WebAssembly SIMD is not available (node --jitless, a CPU without it), the line scanner counts instead.
import { LF, LineScanner } from './line-scanner.js';
import { NEWLINES_WASM } from './newlines-wasm.js';

/** Bytes copied into the module's memory and counted at a time: one page, which stays in the cache. */
const BLOCK = 64 * 1024;
/** Shorter buffers are counted in JavaScript: copying them costs more than it saves. */
const SHORT = 4 * 1024;

/** The part of the WebAssembly API used here (the project's TypeScript libraries do not declare it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

interface Scanner {
  scratch: Uint8Array;
  scan: (start: number, end: number) => number;
}

/** The module, compiled on first use; null where WebAssembly SIMD cannot run. */
let scanner: Scanner | null | undefined;

function load(): Scanner | null {
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(NEWLINES_WASM));
    const memory = instance.exports.memory as { buffer: ArrayBuffer };
    return { scratch: new Uint8Array(memory.buffer, 0, BLOCK), scan: instance.exports.scan as Scanner['scan'] };
  } catch {
    return null;
  }
}

/** What `scanText` found: the `\n` bytes, and whether a byte is 0 (a sign of a binary file). */
export interface TextScan {
  newlines: number;
  nul: boolean;
}

/** How many `\n` bytes `buf` holds, and whether it holds a NUL byte: one pass over it. */
export function scanText(buf: Uint8Array): TextScan {
  const bytes = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const wasm = bytes.length < SHORT ? null : (scanner ??= load());
  if (wasm === null) {
    const scanner = new LineScanner();
    scanner.find(bytes, 0, Number.POSITIVE_INFINITY);
    return { newlines: scanner.count, nul: bytes.indexOf(0) >= 0 };
  }
  let newlines = 0;
  let nul = 0;
  for (let at = 0; at < bytes.length; at += BLOCK) {
    const end = Math.min(at + BLOCK, bytes.length);
    bytes.copy(wasm.scratch, 0, at, end);
    const whole = (end - at) & ~15;
    const found = wasm.scan(0, whole);
    newlines += found >>> 1;
    nul |= found & 1;
    for (let i = at + whole; i < end; i++) {
      if (bytes[i] === LF) newlines++;
      else if (bytes[i] === 0) nul = 1;
    }
  }
  return { newlines, nul: nul === 1 };
}

/** How many `\n` bytes `buf` holds. */
export function countNewlines(buf: Uint8Array): number {
  return scanText(buf).newlines;
}
