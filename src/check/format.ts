// Rendering bytes for the checkers' reports: counts in hex, lines as JSON strings, status bytes as letters.

/** `00 00 00 02` */
export function hex(bytes: Uint8Array, max = 64): string {
  const shown = Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return bytes.length > max ? `${shown} … (${bytes.length} bytes)` : shown;
}

/** A line's bytes as a JSON string (`\r`, `\t` and `\n` visible), cut after `max` characters. */
export function quote(bytes: Uint8Array | string, max = 80): string {
  let text =
    typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let cut = '';
  if (text.length > max) {
    cut = `… (${Buffer.byteLength(text)} bytes)`;
    text = text.slice(0, max);
  }
  return JSON.stringify(text) + cut;
}

/** One status byte: `A`, `Q`, `R` or another printable character as itself, anything else as `0xNN`. */
export function statusText(byte: number): string {
  return byte > 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `0x${byte.toString(16).padStart(2, '0')}`;
}

/** Status bytes as `A A Q`, or `no byte`. */
export function statusesText(bytes: Uint8Array, max = 32): string {
  if (bytes.length === 0) return 'no byte';
  const shown = Array.from(bytes.subarray(0, max), statusText).join(' ');
  return bytes.length > max ? `${shown} … (${bytes.length} bytes)` : shown;
}

/** A whole message as sent: `[00 00 00 02] "alpha\n" "beta\n"`; the quit message is `[00 00 00 00]`. */
export function messageText(lines: readonly string[]): string {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(lines.length);
  return [`[${hex(head)}]`, ...lines.map((l) => quote(`${l}\n`, 60))].join(' ');
}

export const QUIT_TEXT = '[00 00 00 00]';

/** Where two byte strings first differ, in words. */
export function firstDifference(expected: Uint8Array, seen: Uint8Array): string {
  const n = Math.min(expected.length, seen.length);
  for (let i = 0; i < n; i++) {
    if (expected[i] !== seen[i]) {
      return (
        `first difference at byte ${i}: expected ${hex(expected.subarray(i, i + 8))}, found ` +
        `${hex(seen.subarray(i, i + 8))}`
      );
    }
  }
  if (seen.length > expected.length)
    return (
      `the expected ${expected.length} bytes, then ${seen.length - expected.length} more: ` +
      `${quote(seen.subarray(expected.length), 40)}`
    );
  if (seen.length < expected.length) return `only the first ${seen.length} of the ${expected.length} expected bytes`;
  return 'identical';
}
