// Text files for the client's tests: lines of varying length (some empty, some with \r), different
// from one seed and one offset to the next, so that bytes sent from the wrong place show.

/** About `size` bytes of lines of varying length (some empty, some with \r), with or without a final \n. */
export function text(size: number, finalNewline: boolean, seed: number): Buffer {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < size; i++) {
    const line = i % 17 === 0 ? '' : `${seed}:${i} ${'abcdefghij'.repeat((i * seed) % 23)}${i % 5 === 0 ? '\r' : ''}`;
    parts.push(line);
    n += line.length + 1;
  }
  const body = parts.join('\n');
  return Buffer.from(finalNewline ? `${body}\n` : body);
}

/** Exactly `size` bytes of such lines, ending in \n or not as asked. */
export function exactText(size: number, finalNewline: boolean, seed: number): Buffer {
  const body = Buffer.from(text(size + 300, false, seed).subarray(0, size));
  if (finalNewline) body[size - 1] = 0x0a;
  else if (body[size - 1] === 0x0a) body[size - 1] = 0x78;
  return body;
}
