// linedrop's benchmark: `npm run bench` (full sizes) or `npm run bench -- --quick` (under a minute).
// Everything runs on 127.0.0.1 and in a temporary folder; every receiving server runs in a child
// process (bench/server-child.ts), so sender and receiver never share an event loop and the
// server's RSS is its own. See `--help` for the flags and README.md ("Performance") for results.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Decoder, LinedropClient, encodeCount, measureFile, QUIT_MESSAGE } from '../src/index.js';

const HOST = '127.0.0.1';
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const CHILD = fileURLToPath(new URL('./server-child.js', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const SECTIONS = ['ingest', 'decoder', 'files', 'memory', 'client'] as const;
type Section = (typeof SECTIONS)[number];

interface Options {
  quick: boolean;
  json: boolean;
  /** Section 1: bytes of the large upload. */
  size: number;
  /** Section 2: bytes decoded per case. */
  decoderSize: number;
  /** Section 3: files per case, their size, the concurrent connections, messages in flight per connection. */
  files: number;
  fileSize: number;
  connections: number;
  window: number;
  layout: 'flat' | 'session';
  /** Section 4: idle connections, and the size of the upload whose RSS is sampled. */
  idle: number;
  upload: number;
  /** Section 5: size of the file the client sends. */
  clientSize: number;
  /** Sections 1 and 5: best of this many runs of each row. */
  repeat: number;
  only: Set<Section>;
  tmp: string;
  keep: boolean;
}

const HELP = `usage: npm run bench -- [flags]

  --quick               small sizes: finishes in under a minute
  --json                print the results as JSON instead of a table
  --size SIZE           1: large upload ingested by the server (default 1GiB; quick 64MiB)
  --decoder-size SIZE   2: bytes decoded per case (default 1GiB; quick 64MiB)
  --files N             3: files per case (default 20000; quick 1000)
  --file-size SIZE      3: size of each file (default 1KiB)
  --connections N       3: concurrent connections of the many-clients case (default 64)
  --window N            3: messages in flight per connection (default 8)
  --layout flat|session 3: the server's layout (default flat, the lab's: one folder, k.txt
                        per connection, so connections overwrite each other's files;
                        session: a folder per connection, which no other connection
                        shares, so there is no folder flush to share either)
  --idle N              4: idle connections (default 10000; quick 1000)
  --upload SIZE         4: upload whose server RSS is sampled (default 4GiB; quick 256MiB)
  --client-size SIZE    5: file sent by the client (default 1GiB; quick 64MiB)
  --repeat N            1 and 5: best of N runs per row, taken in turns (default 3; quick 1)
  --only LIST           run only these sections: ${SECTIONS.join(',')}
  --tmp DIR             where the temporary folder goes (default the system's)
  --keep                keep the temporary folder

SIZE: a number of bytes with an optional KiB/MiB/GiB (or K/M/G) suffix.`;

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = { '': 1, k: KiB, m: MiB, g: GiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * unit);
}

function parseOptions(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const o: Options = {
    quick,
    json: false,
    size: quick ? 64 * MiB : GiB,
    decoderSize: quick ? 64 * MiB : GiB,
    files: quick ? 1000 : 20_000,
    fileSize: KiB,
    connections: 64,
    window: 8,
    layout: 'flat',
    idle: quick ? 1000 : 10_000,
    upload: quick ? 256 * MiB : 4 * GiB,
    clientSize: quick ? 64 * MiB : GiB,
    repeat: quick ? 1 : 3,
    only: new Set(SECTIONS),
    tmp: tmpdir(),
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const int = (): number => {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 1) throw new Error(`${arg} needs a whole number >= 1`);
      return v;
    };
    switch (arg) {
      case '--quick':
        break;
      case '--json':
        o.json = true;
        break;
      case '--size':
        o.size = parseSize(value());
        break;
      case '--decoder-size':
        o.decoderSize = parseSize(value());
        break;
      case '--files':
        o.files = int();
        break;
      case '--file-size':
        o.fileSize = parseSize(value());
        break;
      case '--connections':
        o.connections = int();
        break;
      case '--window':
        o.window = int();
        break;
      case '--layout': {
        const v = value();
        if (v !== 'flat' && v !== 'session') throw new Error('--layout is flat or session');
        o.layout = v;
        break;
      }
      case '--idle':
        o.idle = int();
        break;
      case '--upload':
        o.upload = parseSize(value());
        break;
      case '--client-size':
        o.clientSize = parseSize(value());
        break;
      case '--repeat':
        o.repeat = int();
        break;
      case '--only': {
        const list = value().split(',');
        for (const s of list) if (!SECTIONS.includes(s as Section)) throw new Error(`--only: unknown section ${s}`);
        o.only = new Set(list as Section[]);
        break;
      }
      case '--tmp':
        o.tmp = value();
        break;
      case '--keep':
        o.keep = true;
        break;
      case '-h':
      case '--help':
        process.stdout.write(`${HELP}\n`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag ${arg} (see --help)`);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

interface Row {
  section: number;
  measure: string;
  value?: number;
  unit?: string;
  /** The figure shown, when it is not just value and unit. */
  shown?: string;
  reference?: string;
  referenceValue?: number;
  ratio?: number;
  target?: string;
  met?: boolean;
  note?: string;
  extra?: Record<string, number>;
}

const rows: Row[] = [];

function log(text: string): void {
  process.stderr.write(`${text}\n`);
}

function fmtBytes(n: number): string {
  if (n >= GiB && n % GiB === 0) return `${n / GiB} GiB`;
  if (n >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${+(n / MiB).toFixed(1)} MiB`;
  if (n >= KiB) return `${+(n / KiB).toFixed(1)} KiB`;
  return `${n} B`;
}

function fmtMB(bytesPerSec: number): string {
  return `${(bytesPerSec / 1e6).toFixed(0)} MB/s`;
}

function fmtRss(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function ratioCell(r: number | undefined): string {
  return r === undefined ? '' : `${r.toFixed(2)}x`;
}

function printTable(o: Options, info: Record<string, string>): void {
  const header = ['#', 'measure', 'linedrop', 'reference', 'ratio', 'target', 'met'];
  const body = rows.map((r) => [
    String(r.section),
    r.measure,
    r.shown ?? (r.value !== undefined ? `${r.value} ${r.unit ?? ''}`.trim() : ''),
    r.reference ?? '',
    ratioCell(r.ratio),
    r.target ?? '',
    r.met === undefined ? (r.note ?? '') : r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out: string[] = [];
  out.push(`linedrop benchmark (${o.quick ? 'quick' : 'full'} run): ${Object.entries(info).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (o.quick) out.push('(quick run: smaller sizes than the targets are set for; the met column is only indicative)');
  out.push('');
  out.push(line(header));
  out.push(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const b of body) out.push(line(b));
  const notes = rows.filter((r) => r.note && r.met !== undefined);
  if (notes.length > 0) {
    out.push('');
    for (const r of notes) out.push(`note (${r.section}, ${r.measure}): ${r.note}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

interface Child {
  proc: ChildProcess;
  pid: number;
  port: number;
  next(): Promise<Record<string, unknown>>;
  command(text: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Starts bench/server-child.js through `sh`, so `ulimit -n` can be raised for it first. */
async function startChild(args: string[], nofile = 0): Promise<Child> {
  const script = `${nofile > 0 ? `ulimit -n ${nofile} 2>/dev/null || ulimit -n hard 2>/dev/null; ` : ''}exec "$@"`;
  const proc = spawn('sh', ['-c', script, 'sh', process.execPath, '--expose-gc', CHILD, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const queue: Record<string, unknown>[] = [];
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  let exited = false;
  const lines = createInterface({ input: proc.stdout! });
  lines.on('line', (line) => {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      log(`server-child: ${line}`);
      return;
    }
    const w = waiting.shift();
    if (w) w(message);
    else queue.push(message);
  });
  const exit = once(proc, 'exit').then(() => {
    exited = true;
  });
  const next = (): Promise<Record<string, unknown>> => {
    const m = queue.shift();
    if (m) return Promise.resolve(m);
    if (exited) return Promise.reject(new Error('the server child has exited'));
    return new Promise((resolve, reject) => {
      waiting.push(resolve);
      void exit.then(() => reject(new Error('the server child exited')));
    });
  };
  const ready = await next();
  if (ready.ready !== true) throw new Error(`server child: ${JSON.stringify(ready)}`);
  return {
    proc,
    pid: ready.pid as number,
    port: ready.port as number,
    next,
    command: (text) => {
      proc.stdin!.write(`${text}\n`);
      return next();
    },
    stop: async () => {
      if (exited) return;
      proc.stdin!.end();
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** The resident set of a process, from /proc (Linux). */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

async function stats(child: Child): Promise<{ connections: number; rss: number; heapUsed: number; external: number; arrayBuffers: number }> {
  const m = await child.command('stats');
  return m.stats as { connections: number; rss: number; heapUsed: number; external: number; arrayBuffers: number };
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/** Lines of `lineLen` bytes (the last one `\n`), printable pseudo-random text, as one buffer of about `size` bytes. */
function makeLines(lineLen: number, size: number, seed = 1): Buffer {
  const count = Math.max(1, Math.floor(size / lineLen));
  const out = Buffer.allocUnsafe(count * lineLen);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = 0x20 + ((x >>> 0) % 95);
  }
  for (let i = lineLen - 1; i < out.length; i += lineLen) out[i] = 0x0a;
  return out;
}

/** A socket to 127.0.0.1:port, retried while nothing listens yet. */
async function connectTo(port: number, retryMs = 0): Promise<Socket> {
  const deadline = Date.now() + retryMs;
  for (;;) {
    const socket = connect({ host: HOST, port, allowHalfOpen: true });
    try {
      await once(socket, 'connect');
      socket.setNoDelay(true);
      return socket;
    } catch (err) {
      socket.destroy();
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Writes `total` bytes taken from `block` over and over, waiting for 'drain' when asked. */
async function writeRepeated(socket: Socket, block: Buffer, total: number): Promise<void> {
  let left = total;
  while (left > 0) {
    const piece = left >= block.length ? block : block.subarray(0, left);
    left -= piece.length;
    if (!socket.write(piece)) await once(socket, 'drain');
  }
}

/** Resolves with the next byte the peer sends. */
function nextByte(socket: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      cleanup();
      if (chunk.length > 1) socket.unshift(chunk.subarray(1));
      resolve(chunk[0]!);
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error('the connection ended before an answer'));
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * Runs every contestant `n` times, taking turns (A B C A B C ...), so that a burst of load from
 * elsewhere on the machine hits them alike, and keeps each one's fastest run.
 */
async function bestOf<T extends { seconds: number }>(n: number, runs: (() => Promise<T>)[], names: string[] = []): Promise<T[]> {
  const winners: (T | undefined)[] = runs.map(() => undefined);
  for (let i = 0; i < n; i++) {
    for (const [j, run] of runs.entries()) {
      collectGarbage();
      const r = await run();
      log(`   ${names[j] ?? `#${j + 1}`}: ${r.seconds.toFixed(3)} s`);
      const w = winners[j];
      if (w === undefined || r.seconds < w.seconds) winners[j] = r;
    }
  }
  return winners as T[];
}

/** A full garbage collection, so one case's garbage is not collected on the next one's time. */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

// ---------------------------------------------------------------------------------------------
// 1. Large upload ingest
// ---------------------------------------------------------------------------------------------

interface Timed {
  seconds: number;
}

/** The linedrop server ingests one message of `lines` 100-byte lines; timed from connect to `A`. */
async function ingestLinedrop(dir: string, block: Buffer, lines: number, lineLen: number): Promise<Timed> {
  const child = await startChild(['linedrop', '--dir', dir]);
  try {
    const socket = await connectTo(child.port);
    const answer = nextByte(socket);
    const t0 = performance.now();
    socket.write(encodeCount(lines));
    await writeRepeated(socket, block, lines * lineLen);
    const status = await answer;
    const seconds = (performance.now() - t0) / 1000;
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
    const socket = await connectTo(child.port);
    const answer = nextByte(socket);
    const t0 = performance.now();
    socket.write(encodeCount(lines));
    await writeRepeated(socket, block, lines * lineLen);
    socket.end();
    await answer;
    const seconds = (performance.now() - t0) / 1000;
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

async function sectionIngest(o: Options, tmp: string): Promise<void> {
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
    rows.push({ section: 1, measure: '', reference: '`nc -l > file`: skipped, nc is not installed', note: 'nc not installed' });
  } else if (ncError || !ncRun || !Number.isFinite(ncRun.seconds)) {
    rows.push({ section: 1, measure: '', reference: `\`nc -l > file\`: failed (${ncError?.message ?? '?'})`, note: 'nc failed' });
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

// ---------------------------------------------------------------------------------------------
// 2. Decoder alone
// ---------------------------------------------------------------------------------------------

function decodeRate(lineLen: number, chunkSize: number, total: number): { rate: number; seconds: number } {
  // A stream of whole messages of 10,000 lines each, at most 256 MiB, decoded again and again.
  const linesPerMessage = 10_000;
  const body = makeLines(lineLen, lineLen * linesPerMessage, lineLen);
  const message = Buffer.concat([encodeCount(linesPerMessage), body]);
  const copies = Math.max(1, Math.min(Math.floor((256 * MiB) / message.length), Math.ceil(total / message.length)));
  const stream = Buffer.allocUnsafe(copies * message.length);
  for (let i = 0; i < copies; i++) message.copy(stream, i * message.length);
  const chunks: Buffer[] = [];
  for (let p = 0; p < stream.length; p += chunkSize) chunks.push(stream.subarray(p, Math.min(p + chunkSize, stream.length)));
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

function sectionDecoder(o: Options): void {
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

// ---------------------------------------------------------------------------------------------
// 3. Small files, durable
// ---------------------------------------------------------------------------------------------

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) n += await countFiles(join(dir, entry.name));
    else if (entry.name.endsWith('.txt')) n++;
  }
  return n;
}

async function smallFiles(o: Options, files: number, dir: string, connections: number, groupCommit: boolean, fsync = true): Promise<{ files: number; seconds: number }> {
  const child = await startChild(['linedrop', '--dir', dir, '--layout', o.layout, '--group-commit', groupCommit ? '1' : '0', '--fsync', fsync ? '1' : '0']);
  try {
    const lineLen = 64;
    const body = makeLines(lineLen, o.fileSize, 7);
    const clients = await Promise.all(Array.from({ length: connections }, () => LinedropClient.connect({ host: HOST, port: child.port })));
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

async function sectionFiles(o: Options, tmp: string): Promise<void> {
  for (const connections of [1, o.connections]) {
    const what = `${fmtInt(o.files)} files of ${fmtBytes(o.fileSize)}, ${connections} connection${connections === 1 ? '' : 's'}, A after fsync`;
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
    const [group, single, ceiling] = modes.map((m) => ({ rate: m.files / m.seconds })) as [{ rate: number }, { rate: number }, { rate: number }];
    const ratio = group.rate / single.rate;
    rows.push({
      section: 3,
      measure: `${what}, group commit`,
      value: Math.round(group.rate),
      unit: 'files/s',
      shown: `${fmtInt(group.rate)} files/s`,
      reference: `one fsync per file: ${fmtInt(single.rate)} files/s`,
      referenceValue: Math.round(single.rate),
      ratio,
      ...(connections > 1 ? { target: '>= 5x one fsync per file', met: ratio >= 5 } : {}),
      extra: { ceiling: Math.round(ceiling.rate) },
    });
    rows.push({
      section: 3,
      measure: '',
      reference: `no fsync at all (ceiling, not durable): ${fmtInt(ceiling.rate)} files/s`,
      referenceValue: Math.round(ceiling.rate),
      ratio: ceiling.rate / single.rate,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Memory
// ---------------------------------------------------------------------------------------------

function fdLimit(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) ? n : r.stdout.trim() === 'unlimited' ? Infinity : 1024;
}

async function sectionMemory(o: Options, tmp: string): Promise<void> {
  // 4a. Idle connections.
  let idle = o.idle;
  const limit = fdLimit();
  let note: string | undefined;
  if (idle + 200 > limit) {
    idle = Math.max(0, limit - 200);
    note = `the file-descriptor limit here is ${limit}: measured ${fmtInt(idle)} connections instead of ${fmtInt(o.idle)}`;
  }
  log(`4. server RSS with ${fmtInt(idle)} idle connections (ulimit -n here: ${limit})`);
  const dir = join(tmp, 'memory');
  const child = await startChild(['linedrop', '--dir', dir], idle + 256);
  const sockets: Socket[] = [];
  try {
    await child.command('gc');
    const before = await stats(child);
    for (let i = 0; i < idle; i += 256) {
      const batch = await Promise.all(Array.from({ length: Math.min(256, idle - i) }, () => connectTo(child.port)));
      for (const s of batch) s.on('error', () => undefined);
      sockets.push(...batch);
    }
    let after = await stats(child);
    const deadline = Date.now() + 30_000;
    while (after.connections < idle && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      after = await stats(child);
    }
    if (after.connections !== idle) throw new Error(`the server holds ${after.connections} connections, expected ${idle}`);
    await child.command('gc');
    after = await stats(child);
    rows.push({
      section: 4,
      measure: `server RSS with ${fmtInt(idle)} idle connections`,
      value: Number((after.rss / 1e6).toFixed(1)),
      unit: 'MB',
      shown: `${fmtRss(after.rss)} (${((after.rss - before.rss) / idle / 1024).toFixed(1)} KiB/conn.)`,
      reference: `before connecting: ${fmtRss(before.rss)}`,
      referenceValue: Number((before.rss / 1e6).toFixed(1)),
      target: '< 200 MB at 10,000',
      // The target is for 10,000 connections; fewer (a quick run, a low fd limit) cannot meet it.
      met: after.rss < 200e6 && idle >= 10_000,
      ...(note ? { note } : {}),
      extra: { heapUsed: after.heapUsed, external: after.external, arrayBuffers: after.arrayBuffers, idle },
    });
  } finally {
    for (const s of sockets) s.destroy();
    await child.stop();
    await rm(dir, { recursive: true, force: true });
  }

  // 4b. RSS sampled during a large upload.
  log(`4. server RSS during a ${fmtBytes(o.upload)} upload`);
  const upDir = join(tmp, 'upload');
  const up = await startChild(['linedrop', '--dir', upDir]);
  try {
    const lineLen = 100;
    const lines = Math.floor(o.upload / lineLen);
    const block = makeLines(lineLen, 4 * MiB, 3);
    const samples: number[] = [];
    const idleRss = rssOf(up.pid);
    const socket = await connectTo(up.port);
    const answer = nextByte(socket);
    const timer = setInterval(() => samples.push(rssOf(up.pid)), 50);
    const t0 = performance.now();
    socket.write(encodeCount(lines));
    await writeRepeated(socket, block, lines * lineLen);
    const status = await answer;
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(timer);
    samples.push(rssOf(up.pid));
    if (status !== 0x41) throw new Error(`the server answered ${String.fromCharCode(status)}`);
    socket.write(QUIT_MESSAGE);
    await nextByte(socket).catch(() => 0);
    socket.destroy();
    // Flat means: after the first megabytes arrive, the resident set no longer grows with the upload.
    const min = Math.min(...samples);
    const max = Math.max(...samples);
    rows.push({
      section: 4,
      measure: `server RSS during a ${fmtBytes(o.upload)} upload (${samples.length} samples, ${fmtMB((lines * lineLen) / seconds)})`,
      value: Number(((max - min) / 1e6).toFixed(1)),
      unit: 'MB',
      shown: `min ${fmtRss(min)}, max ${fmtRss(max)}, delta ${fmtRss(max - min)}`,
      reference: `idle before: ${fmtRss(idleRss)}`,
      referenceValue: Number((idleRss / 1e6).toFixed(1)),
      target: 'delta <= 64 MB',
      met: max - min <= 64e6,
      extra: { min, max, idleRss, seconds },
    });
  } finally {
    await up.stop();
    await rm(upDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// 5. Client send
// ---------------------------------------------------------------------------------------------

async function writeFileOfLines(path: string, size: number, lineLen: number): Promise<number> {
  const block = makeLines(lineLen, 4 * MiB, 5);
  const lines = Math.floor(size / lineLen);
  let left = lines * lineLen;
  const handle = await open(path, 'w');
  try {
    while (left > 0) {
      const piece = left >= block.length ? block : block.subarray(0, left);
      await handle.write(piece);
      left -= piece.length;
    }
  } finally {
    await handle.close();
  }
  return lines * lineLen;
}

async function sectionClient(o: Options, tmp: string): Promise<void> {
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
    const [rawRun, plain, shaped] = (await bestOf(o.repeat, [raw, () => viaClient(false), () => viaClient(true)], ['raw copy', 'sendFile', 'sendFile with shape'])) as [Timed, Timed, Timed];
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

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exit(2);
  }
  await mkdir(o.tmp, { recursive: true });
  const tmp = await mkdtemp(join(o.tmp, 'linedrop-bench-'));
  const cpu = cpus();
  const info: Record<string, string> = {
    cpus: `${cpu.length} × ${cpu[0]?.model ?? '?'}`,
    node: process.version,
    folder: tmp,
  };
  log(`linedrop benchmark, ${o.quick ? 'quick' : 'full'} run, in ${tmp}`);
  const started = performance.now();
  try {
    if (o.only.has('ingest')) await sectionIngest(o, tmp);
    if (o.only.has('decoder')) sectionDecoder(o);
    if (o.only.has('files')) await sectionFiles(o, tmp);
    if (o.only.has('memory')) await sectionMemory(o, tmp);
    if (o.only.has('client')) await sectionClient(o, tmp);
  } finally {
    if (!o.keep) await rm(tmp, { recursive: true, force: true });
  }
  info.took = `${((performance.now() - started) / 1000).toFixed(0)} s`;
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ info, options: { ...o, only: [...o.only] }, rows }, null, 2)}\n`);
  } else {
    printTable(o, info);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
