// 2. The decoder alone, in memory.
import { Decoder, encodeCount } from '../src/protocol/index.js';
import type { Options } from './options.js';
import { rows } from './report.js';
import { collectGarbage, KiB, makeLines, MiB, log } from './support.js';

function decodeRate(lineLen: number, chunkSize: number, total: number): { rate: number; seconds: number } {
  // A stream of whole messages of 10,000 lines each, at most 256 MiB, decoded again and again.
  const linesPerMessage = 10_000;
  const body = makeLines(lineLen, lineLen * linesPerMessage, lineLen);
  const message = Buffer.concat([encodeCount(linesPerMessage), body]);
  const copies = Math.max(1, Math.min(Math.floor((256 * MiB) / message.length), Math.ceil(total / message.length)));
  const stream = Buffer.allocUnsafe(copies * message.length);
  for (let i = 0; i < copies; i++) message.copy(stream, i * message.length);
  const chunks: Buffer[] = [];
  for (let p = 0; p < stream.length; p += chunkSize)
    chunks.push(stream.subarray(p, Math.min(p + chunkSize, stream.length)));
  const passes = Math.max(1, Math.round(total / stream.length));
  const decoder = new Decoder();
  collectGarbage();
  let ends = 0;
  const pass = (): void => {
    for (const chunk of chunks) {
      const events = decoder.push(chunk);
      for (let i = 0; i < events.length; i++) if (events[i]!.type === 'end') ends++;
    }
  };
  pass(); // warm-up
  ends = 0;
  // At least the requested bytes, and at least a quarter of a second so a stray pause weighs little.
  let done = 0;
  const t0 = performance.now();
  while (done < passes || performance.now() - t0 < 250) {
    pass();
    done++;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (ends !== done * copies) throw new Error(`decoded ${ends} messages, expected ${done * copies}`);
  return { rate: (done * stream.length) / seconds, seconds };
}

export function sectionDecoder(o: Options): void {
  log('2. decoder alone, in memory');
  for (const lineLen of [100, 10]) {
    for (const chunk of [64 * KiB, 1000]) {
      const { rate } = decodeRate(lineLen, chunk, o.decoderSize);
      const gbs = rate / 1e9;
      rows.push({
        section: 2,
        measure: `decoder, ${lineLen}-byte lines, ${chunk === 1000 ? '1,000-byte' : '64 KiB'} chunks`,
        value: Number(gbs.toFixed(2)),
        unit: 'GB/s',
        ...(lineLen === 100 ? { target: '>= 1.5 GB/s', met: gbs >= 1.5 } : {}),
      });
    }
  }
}
