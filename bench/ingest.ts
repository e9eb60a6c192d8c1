// 1. A large upload ingested by the server, next to a raw socket copy and `nc`.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { rm, stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { encodeCount, QUIT_MESSAGE } from '../src/protocol/index.js';
import type { Options } from './options.js';
import { fmtBytes, fmtMB, rows } from './report.js';
import {
  bestOf,
  connectTo,
  freePort,
  HOST,
  makeLines,
  MiB,
  nextByte,
  startChild,
  which,
  writeRepeated,
  type Timed,
  log,
} from './support.js';

/**
 * Connects to `port`, sends a count and `lines` lines taken from `block` (then ends the stream,
 * if `end`), and times it from the count to the one-byte answer.
 */
async function upload(
  port: number,
  block: Buffer,
  lines: number,
  lineLen: number,
  end: boolean,
): Promise<{ socket: Socket; status: number; seconds: number }> {
  const socket = await connectTo(port);
  const answer = nextByte(socket);
  const t0 = performance.now();
  socket.write(encodeCount(lines));
  await writeRepeated(socket, block, lines * lineLen);
  if (end) socket.end();
  const status = await answer;
  return { socket, status, seconds: (performance.now() - t0) / 1000 };
}

/** The linedrop server ingests one message of `lines` 100-byte lines; timed from connect to `A`. */
async function ingestLinedrop(dir: string, block: Buffer, lines: number, lineLen: number): Promise<Timed> {
  const child = await startChild(['linedrop', '--dir', dir]);
  try {
    const { socket, status, seconds } = await upload(child.port, block, lines, lineLen, false);
    if (status !== 0x41) throw new Error(`the server answered ${String.fromCharCode(status)}`);
    const quit = nextByte(socket);
    socket.write(QUIT_MESSAGE);
    await quit;
    socket.destroy();
    const size = (await stat(join(dir, '1.txt'))).size;
    if (size !== lines * lineLen) throw new Error(`1.txt holds ${size} bytes, not ${lines * lineLen}`);
    return { seconds };
  } finally {
    await child.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The same bytes through a socket piped to a file, fsync'ed, then one byte back. */
async function ingestRaw(file: string, block: Buffer, lines: number, lineLen: number): Promise<Timed> {
  const child = await startChild(['raw', '--file', file]);
  try {
    const { socket, seconds } = await upload(child.port, block, lines, lineLen, true);
    socket.destroy();
    const size = (await stat(file)).size;
    if (size !== 4 + lines * lineLen) throw new Error(`the raw copy holds ${size} bytes, not ${4 + lines * lineLen}`);
    return { seconds };
  } finally {
    await child.stop();
    await rm(file, { force: true });
  }
}

/** The same bytes into `nc -l > file`, then `sync file` (an fsync); timed from connect to sync's end. */
async function ingestNc(nc: string, file: string, block: Buffer, lines: number, lineLen: number): Promise<Timed> {
  const port = await freePort();
  const help = spawnSync(nc, ['-h'], { encoding: 'utf8' });
  const text = `${help.stdout}${help.stderr}`;
  // OpenBSD nc and ncat take `-l host port`; the traditional nc wants `-l -p port`.
  const listen = /OpenBSD|Ncat|-N\b/.test(text) ? `-l ${HOST} ${port}` : `-l -p ${port} -s ${HOST}`;
  const proc = spawn('sh', ['-c', `"${nc}" ${listen} > "${file}" < /dev/null && sync "${file}"`], { stdio: 'ignore' });
  const exited = once(proc, 'exit');
  try {
    const socket = await connectTo(port, 5000);
    const t0 = performance.now();
    socket.write(encodeCount(lines));
    await writeRepeated(socket, block, lines * lineLen);
    socket.end();
    const [code] = (await exited) as [number | null];
    const seconds = (performance.now() - t0) / 1000;
    socket.destroy();
    if (code !== 0) throw new Error(`nc exited with ${code}`);
    const size = (await stat(file)).size;
    if (size !== 4 + lines * lineLen) throw new Error(`nc's copy holds ${size} bytes, not ${4 + lines * lineLen}`);
    return { seconds };
  } finally {
    proc.kill();
    await rm(file, { force: true });
  }
}

export async function sectionIngest(o: Options, tmp: string): Promise<void> {
  const lineLen = 100;
  const lines = Math.floor(o.size / lineLen);
  const bytes = lines * lineLen;
  const block = makeLines(lineLen, 4 * MiB);
  const label = `ingest ${fmtBytes(o.size)} as 100-byte lines, client → server → disk, fsync before A`;
  log(`1. ${label}`);
  const nc = which('nc') ?? which('ncat') ?? which('netcat');
  const contestants: (() => Promise<Timed>)[] = [
    () => ingestLinedrop(join(tmp, 'ingest'), block, lines, lineLen),
    () => ingestRaw(join(tmp, 'raw.out'), block, lines, lineLen),
  ];
  let ncError: Error | undefined;
  if (nc) {
    contestants.push(() =>
      ingestNc(nc, join(tmp, 'nc.out'), block, lines, lineLen).catch((err: Error) => {
        ncError = err;
        return { seconds: Infinity };
      }),
    );
  }
  const [ours, raw, ncRun] = await bestOf(o.repeat, contestants, ['linedrop', 'raw copy', 'nc']);
  const oursRate = bytes / ours!.seconds;
  const rawRate = (bytes + 4) / raw!.seconds;
  rows.push({
    section: 1,
    measure: label,
    value: Math.round(oursRate / 1e6),
    unit: 'MB/s',
    reference: `raw socket → file + fsync: ${fmtMB(rawRate)}`,
    referenceValue: Math.round(rawRate / 1e6),
    ratio: oursRate / rawRate,
    target: '>= 0.90x raw',
    met: oursRate / rawRate >= 0.9,
    extra: { seconds: ours!.seconds, rawSeconds: raw!.seconds },
  });
  if (!nc) {
    rows.push({
      section: 1,
      measure: '',
      reference: '`nc -l > file`: skipped, nc is not installed',
      note: 'nc not installed',
    });
  } else if (ncError || !ncRun || !Number.isFinite(ncRun.seconds)) {
    rows.push({
      section: 1,
      measure: '',
      reference: `\`nc -l > file\`: failed (${ncError?.message ?? '?'})`,
      note: 'nc failed',
    });
  } else {
    const ncRate = (bytes + 4) / ncRun.seconds;
    rows.push({
      section: 1,
      measure: '',
      reference: `\`nc -l > file\` + sync: ${fmtMB(ncRate)}`,
      referenceValue: Math.round(ncRate / 1e6),
      ratio: oursRate / ncRate,
    });
  }
}
