// The client's newline counter and NUL finder (WebAssembly SIMD, with the line scanner and indexOf
// where that cannot run) against a byte-by-byte look: every length around its 16-byte lanes, its
// 255-round lane limit and its 64 KiB blocks, at every alignment, dense and sparse.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { countNewlines, scanText } from '../../src/protocol/newlines.js';
import { ROOT } from '../support.js';

function byHand(bytes: Uint8Array): number {
  let n = 0;
  for (const b of bytes) if (b === 0x0a) n++;
  return n;
}

/** Bytes from a small generator, `\n` at about one in `every`. */
function bytes(length: number, every: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) % every === 0 ? 0x0a : 0x20 + ((x >>> 8) % 90);
  }
  return out;
}

describe('client: counting newlines', () => {
  test('agrees with a byte-by-byte count at every size around its lanes and blocks, at every alignment', () => {
    const sizes = [
      0,
      1,
      15,
      16,
      17,
      4095,
      4096,
      4097,
      255 * 16 - 1,
      255 * 16,
      255 * 16 + 1,
      65535,
      65536,
      65537,
      3 * 65536 + 5,
      1_000_003,
    ];
    for (const every of [1, 2, 3, 100, 100_000]) {
      for (const size of sizes) {
        const data = bytes(size + 16, every, size * 31 + every);
        for (const shift of [0, 1, 7, 15]) {
          const view = data.subarray(shift, shift + size);
          assert.equal(countNewlines(view), byHand(view), `${size} bytes, \\n one in ${every}, offset ${shift}`);
        }
      }
    }
  });

  test('a block of nothing but newlines (every lane full for 255 rounds and more); a Uint8Array that is not a Buffer', () => {
    const all = Buffer.alloc(5 * 65536 + 33, 0x0a);
    assert.equal(countNewlines(all), all.length);
    const plain = new Uint8Array(bytes(200_000, 7, 9));
    assert.equal(countNewlines(plain.subarray(3)), byHand(plain.subarray(3)));
  });

  test(
    'a NUL byte is seen wherever it is: in a lane, in the bytes past the last whole lane, in any ' +
      'block; and none is seen where there is none',
    () => {
      for (const size of [1, 15, 16, 17, 4095, 4096, 4111, 65536, 65537, 200_003]) {
        const data = bytes(size + 16, 5, size);
        for (const shift of [0, 3]) {
          const view = data.subarray(shift, shift + size);
          assert.deepEqual(scanText(view), { newlines: byHand(view), nul: false }, `${size} bytes, offset ${shift}`);
          for (const at of new Set(
            [0, 1, size >> 1, size - 17, size - 16, size - 2, size - 1].filter((i) => i >= 0 && i < size),
          )) {
            const withNul = Buffer.from(view);
            withNul[at] = 0;
            assert.deepEqual(
              scanText(withNul),
              { newlines: byHand(withNul), nul: true },
              `${size} bytes, NUL at ${at}`,
            );
          }
        }
      }
    },
  );

  test('where WebAssembly cannot run (node --jitless), the same counts', () => {
    const url = new URL(`file://${join(ROOT, 'dist/src/protocol/newlines.js')}`).href;
    const script = `
      const { countNewlines, scanText } = await import(${JSON.stringify(url)});
      const data = Buffer.alloc(200_001, 'ab\\ncd\\n');
      data[150_000] = 0;
      console.log(typeof WebAssembly, countNewlines(data), countNewlines(data.subarray(5)), scanText(data).nul, scanText(data.subarray(150_001)).nul);`;
    const r = spawnSync(process.execPath, ['--jitless', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const data = Buffer.alloc(200_001, 'ab\ncd\n');
    data[150_000] = 0;
    assert.equal(r.stdout.trim(), `undefined ${byHand(data)} ${byHand(data.subarray(5))} true false`);
  });
});
