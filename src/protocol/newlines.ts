// Counting the `\n` bytes of a file (and seeing whether it holds a NUL byte), the client's hottest
// loop, and the server's for the chunks in the middle of a long message: a small WebAssembly module compares 16 bytes at a time (SIMD), several times faster than
// one `indexOf` per line, and as fast for lines of a few bytes as for long ones. Where WebAssembly
// SIMD is not available (node --jitless, a CPU without it), the line scanner counts instead.
import { countLineFeeds } from './line-scanner.js';

const LF = 0x0a;
/** Bytes copied into the module's memory and counted at a time: one page, which stays in the cache. */
const BLOCK = 64 * 1024;
/** Shorter buffers are counted in JavaScript: copying them costs more than it saves. */
const SHORT = 4 * 1024;

/** Unsigned LEB128, as sizes and counts are written in a module. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

const section = (id: number, bytes: number[]): number[] => [id, ...leb(bytes.length), ...bytes];
const name = (text: string): number[] => [text.length, ...Buffer.from(text, 'latin1')];

/**
 * `scan(p, end)`: the bytes equal to 0x0A in memory[p, end), times two, plus one if a byte there
 * is 0 (`end - p` a multiple of 16). Sixteen lanes each count up to 255 matches (i8x16.eq gives -1
 * per match, subtracted from the lane), then the lanes are summed into the total, and again;
 * meanwhile each lane keeps the smallest byte it saw. Locals: 0 p, 1 end, 2 total, 3 rounds
 * left, 4 lanes, 5 sixteen copies of 0x0A, 6 the bytes just loaded, 7 the smallest bytes.
 */
// biome-ignore format: one instruction (or two) per line, as commented
const SCAN_BODY = [
  0x02, 0x02, 0x7f, 0x04, 0x7b, // locals: 2 x i32, 4 x v128
  0x41, LF, 0xfd, 0x0f, 0x21, 0x05, // $nl = i8x16.splat(10)
  0xfd, 0x0c, ...new Array<number>(16).fill(0xff), 0x21, 0x07, // $smallest = 0xff in every lane
  0x02, 0x40, 0x03, 0x40, // block $done, loop $outer
  0x20, 0x00, 0x20, 0x01, 0x4f, 0x0d, 0x01, // br_if $done (p >= end)
  0xfd, 0x0c, ...new Array<number>(16).fill(0), 0x21, 0x04, // $lanes = 0
  0x41, 0xff, 0x01, 0x21, 0x03, // $rounds = 255
  0x02, 0x40, 0x03, 0x40, // block $full, loop $inner
  0x20, 0x00, 0x20, 0x01, 0x4f, 0x0d, 0x01, // br_if $full (p >= end)
  0x20, 0x04, 0x20, 0x00, 0xfd, 0x00, 0x04, 0x00, 0x22, 0x06, // $lanes, $bytes = v128.load(p)
  0x20, 0x05, 0xfd, 0x23, 0xfd, 0x71, 0x21, 0x04, // $lanes -= i8x16.eq($bytes, $nl)
  0x20, 0x07, 0x20, 0x06, 0xfd, 0x77, 0x21, 0x07, // $smallest = i8x16.min_u($smallest, $bytes)
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, // p += 16
  0x20, 0x03, 0x41, 0x01, 0x6b, 0x22, 0x03, 0x0d, 0x00, // br_if $inner (--$rounds)
  0x0b, 0x0b, // end $inner, end $full
  0x20, 0x04, 0xfd, 0x7d, 0xfd, 0x7f, 0x21, 0x04, // $lanes = 4 x i32 sums of the 16 byte lanes
  0x20, 0x02, // total +
  0x20, 0x04, 0xfd, 0x1b, 0x00, 0x6a, // lane 0
  0x20, 0x04, 0xfd, 0x1b, 0x01, 0x6a, // lane 1
  0x20, 0x04, 0xfd, 0x1b, 0x02, 0x6a, // lane 2
  0x20, 0x04, 0xfd, 0x1b, 0x03, 0x6a, // lane 3
  0x21, 0x02, 0x0c, 0x00, // total = ...; br $outer
  0x0b, 0x0b, // end $outer, end $done
  0x20, 0x02, 0x41, 0x01, 0x74, // total << 1
  0x41, 0x01, 0x20, 0x07, 0xfd, 0x63, 0x6b, // 1 - i8x16.all_true($smallest): a lane saw a 0
  0x72, 0x0b, // return the two or'ed
];

// biome-ignore format: one section per line
const MODULE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
  ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]), // type 0: (i32, i32) -> i32
  ...section(3, [0x01, 0x00]), // function 0 has type 0
  ...section(5, [0x01, 0x00, 0x01]), // one memory of one page
  ...section(7, [0x02, ...name('memory'), 0x02, 0x00, ...name('scan'), 0x00, 0x00]),
  ...section(10, [0x01, ...leb(SCAN_BODY.length), ...SCAN_BODY]),
]);

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
    const instance = new WebAssembly.Instance(new WebAssembly.Module(MODULE));
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
  if (wasm === null) return { newlines: countLineFeeds(bytes), nul: bytes.indexOf(0) >= 0 };
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
