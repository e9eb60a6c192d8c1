// 5. The client's sendFile, next to a plain read stream piped into a socket.
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LinedropClient, measureFile } from '../src/index.js';
import { encodeCount } from '../src/protocol/index.js';
import type { Options } from './options.js';
import { fmtBytes, fmtMB, rows } from './report.js';
import { bestOf, connectTo, HOST, nextByte, startChild, writeFileOfLines, type Timed, log } from './support.js';

export async function sectionClient(o: Options, tmp: string): Promise<void> {
  const path = join(tmp, 'client-file.txt');
  const bytes = await writeFileOfLines(path, o.clientSize, 100);
  const label = `client sendFile, ${fmtBytes(o.clientSize)} file of 100-byte lines`;
  log(`5. ${label}`);
  // One sink for every row: a child that decodes the stream, throws the bytes away and answers
  // A, so the rows differ only in how the sender reads and sends.
  const nul = await startChild(['null']);
  const lines = bytes / 100;
  try {
    // The raw copy: the 4-byte count, then a plain file read stream piped into the socket.
    const raw = (): Promise<Timed> =>
      (async () => {
        const socket = await connectTo(nul.port);
        const answer = nextByte(socket);
        const t0 = performance.now();
        socket.write(encodeCount(lines));
        createReadStream(path).pipe(socket, { end: false });
        const status = await answer;
        const seconds = (performance.now() - t0) / 1000;
        if (status !== 0x41) throw new Error(`answered ${String.fromCharCode(status)}`);
        socket.destroy();
        return { seconds };
      })();
    const viaClient = (shaped: boolean): Promise<Timed> =>
      (async () => {
        const client = await LinedropClient.connect({ host: HOST, port: nul.port });
        const shape = shaped ? await measureFile(path) : undefined;
        const t0 = performance.now();
        const status = await client.sendFile(path, shape ? { shape } : {});
        const seconds = (performance.now() - t0) / 1000;
        if (status !== 'A') throw new Error(`answered ${status}`);
        await client.quit();
        return { seconds };
      })();
    // Read the file once so every row starts from the page cache.
    await measureFile(path);
    const [rawRun, plain, shaped] = (await bestOf(
      o.repeat,
      [raw, () => viaClient(false), () => viaClient(true)],
      ['raw copy', 'sendFile', 'sendFile with shape'],
    )) as [Timed, Timed, Timed];
    const rawRate = bytes / rawRun.seconds;
    for (const [what, run] of [
      ['counts the lines first', plain],
      ['shape measured beforehand (`{ shape }`)', shaped],
    ] as const) {
      const rate = bytes / run.seconds;
      rows.push({
        section: 5,
        measure: `${label}, ${what}`,
        value: Math.round(rate / 1e6),
        unit: 'MB/s',
        reference: `count + raw read stream → socket: ${fmtMB(rawRate)}`,
        referenceValue: Math.round(rawRate / 1e6),
        ratio: rate / rawRate,
        target: '>= 0.90x raw',
        met: rate / rawRate >= 0.9,
      });
    }
  } finally {
    await nul.stop();
    await rm(path, { force: true });
  }
}
