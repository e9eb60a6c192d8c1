// 3. Small files, durable: group commit, one folder flush per file, and no flush at all (the ceiling).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LinedropClient } from '../src/index.js';
import type { Options } from './options.js';
import { fmtBytes, fmtInt, rows } from './report.js';
import { countFiles, HOST, makeLines, startChild, log } from './support.js';

async function smallFiles(
  o: Options,
  files: number,
  dir: string,
  connections: number,
  groupCommit: boolean,
  fsync = true,
): Promise<{ files: number; seconds: number }> {
  const child = await startChild([
    'linedrop',
    '--dir',
    dir,
    '--layout',
    o.layout,
    '--group-commit',
    groupCommit ? '1' : '0',
    '--fsync',
    fsync ? '1' : '0',
  ]);
  try {
    const lineLen = 64;
    const body = makeLines(lineLen, o.fileSize, 7);
    const clients = await Promise.all(
      Array.from({ length: connections }, () => LinedropClient.connect({ host: HOST, port: child.port })),
    );
    const share = (i: number): number => Math.floor(files / connections) + (i < files % connections ? 1 : 0);
    const t0 = performance.now();
    await Promise.all(
      clients.map(async (client, i) => {
        const n = share(i);
        let sent = 0;
        const lane = async (): Promise<void> => {
          while (sent < n) {
            sent++;
            const status = await client.sendBuffer(body);
            if (status !== 'A') throw new Error(`a file was answered ${status}`);
          }
        };
        await Promise.all(Array.from({ length: Math.min(o.window, n) }, lane));
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    await Promise.all(clients.map((c) => c.quit()));
    const stored = await countFiles(dir);
    const expected = o.layout === 'session' ? files : share(0);
    if (stored !== expected) throw new Error(`${stored} files stored, expected ${expected}`);
    return { files, seconds };
  } finally {
    await child.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function sectionFiles(o: Options, tmp: string): Promise<void> {
  for (const connections of [1, o.connections]) {
    const what =
      `${fmtInt(o.files)} files of ${fmtBytes(o.fileSize)}, ${connections} ` +
      `connection${connections === 1 ? '' : 's'}, A after fsync`;
    log(`3. ${what}`);
    // Three servers: group commit, one folder flush per file, and (the ceiling) the same server with
    // every flush skipped: not durable, only what file creation, writes, renames and the protocol
    // allow on this machine, whatever the commit strategy. The files are sent in rounds, the order
    // of the three reversed each round, so a slow spell of the disk does not land on one of them.
    const modes = [
      { group: true, fsync: true, dir: 'files-group', files: 0, seconds: 0 },
      { group: false, fsync: true, dir: 'files-single', files: 0, seconds: 0 },
      { group: true, fsync: false, dir: 'files-nofsync', files: 0, seconds: 0 },
    ];
    const rounds = Math.min(o.quick ? 1 : 2, o.files);
    for (let r = 0; r < rounds; r++) {
      const files = Math.floor(o.files / rounds) + (r < o.files % rounds ? 1 : 0);
      for (const mode of r % 2 === 0 ? modes : [...modes].reverse()) {
        const run = await smallFiles(o, files, join(tmp, mode.dir), connections, mode.group, mode.fsync);
        mode.files += run.files;
        mode.seconds += run.seconds;
      }
    }
    const [group, single, ceiling] = modes.map((m) => ({ rate: m.files / m.seconds })) as [
      { rate: number },
      { rate: number },
      { rate: number },
    ];
    const ratio = group.rate / single.rate;
    // The target is set against the ceiling: what the file operations allow here whatever the
    // commit strategy (over one connection, with commits pipelined).
    const toCeiling = group.rate / ceiling.rate;
    const target = connections > 1 ? 0.9 : 0.8;
    rows.push({
      section: 3,
      measure: `${what}, group commit${connections === 1 ? ' (pipelined)' : ''}`,
      value: Math.round(group.rate),
      unit: 'files/s',
      shown: `${fmtInt(group.rate)} files/s`,
      reference: `no fsync at all (ceiling, not durable): ${fmtInt(ceiling.rate)} files/s`,
      referenceValue: Math.round(ceiling.rate),
      ratio: toCeiling,
      target: `>= ${target.toFixed(2)}x the ceiling`,
      met: toCeiling >= target,
      extra: { single: Math.round(single.rate) },
    });
    rows.push({
      section: 3,
      measure: '',
      reference: `one folder fsync per file: ${fmtInt(single.rate)} files/s`,
      referenceValue: Math.round(single.rate),
      ratio,
    });
  }
}
