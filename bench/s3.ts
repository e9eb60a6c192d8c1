// linedrop into S3 against the SDK on its own: `npm run bench:s3` with a gateway to talk to.
//
//   bash scripts/ceph-test.sh npm run bench:s3                    a local Ceph gateway, started and stopped around it
//   LINEDROP_S3_ENDPOINT=http://host:7480 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... npm run bench:s3
//
// The same bytes (a message of 100-byte lines, generated in memory) go up four ways, each best of
// --repeat runs into a fresh bucket that is removed at the end:
//
//   linedrop            a client on a socket -> `linedrop receive --store s3://...` (a child process) -> the
//                       gateway; timed from the first byte sent to the server's `A` (after the upload completes)
//   SDK multipart       CreateMultipartUpload, UploadPart (same part size, same parts in flight), Complete:
//                       what S3Storage does, without the socket and the protocol
//   SDK lib-storage     @aws-sdk/lib-storage's Upload from a stream, same part size and queue
//   SDK one PUT         PutObject of the whole body from memory (only up to 1 GiB)
//
// Flags: --size SIZE (default 256MiB), --repeat N (default 3), --part-size SIZE (default 8MiB),
// --queue N (default 4), --endpoint URL (default LINEDROP_S3_ENDPOINT, then LINEDROP_TEST_S3_ENDPOINT), --json.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { encodeCount } from '../src/protocol/index.js';
import { createS3Client, DEFAULT_S3_PART_SIZE, DEFAULT_S3_QUEUE_SIZE } from '../src/storage/s3-client.js';
import { parseSize } from './options.js';
import { LINEDROP } from './commands.js';
import { GiB, HOST, MiB } from './support.js';

const LINE = 100;

interface Options {
  size: number;
  repeat: number;
  partSize: number;
  queue: number;
  endpoint: string | undefined;
  json: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    size: 256 * MiB,
    repeat: 3,
    partSize: DEFAULT_S3_PART_SIZE,
    queue: DEFAULT_S3_QUEUE_SIZE,
    endpoint: process.env['LINEDROP_S3_ENDPOINT'] || process.env['LINEDROP_TEST_S3_ENDPOINT'] || undefined,
    json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--size') options.size = parseSize(value());
    else if (flag === '--repeat') options.repeat = Math.max(1, Number(value()));
    else if (flag === '--part-size') options.partSize = parseSize(value());
    else if (flag === '--queue') options.queue = Math.max(1, Number(value()));
    else if (flag === '--endpoint') options.endpoint = value();
    else if (flag === '--json') options.json = true;
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(
        'usage: npm run bench:s3 -- [--size 256MiB] [--repeat 3] [--part-size ' +
          '8MiB] [--queue 4] [--endpoint URL] [--json]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown flag ${flag} (--help lists them)`);
  }
  // Whole lines: the body is a multiple of the line length.
  options.size = Math.max(LINE, Math.floor(options.size / LINE) * LINE);
  return options;
}

/** The body, as blocks of whole 100-byte lines (one block reused: the bytes are generated once). */
function blocks(size: number): { block: Buffer; count: number; last: Buffer } {
  const lines = Math.floor((4 * MiB) / LINE);
  const line = Buffer.from(`${'0123456789abcdefghijklmnopqrstuvwxyz'.repeat(3).slice(0, LINE - 1)}\n`);
  const block = Buffer.alloc(lines * LINE, line);
  const count = Math.floor(size / block.length);
  return { block, count, last: block.subarray(0, size - count * block.length) };
}

function* bodyChunks(size: number): Generator<Buffer> {
  const { block, count, last } = blocks(size);
  for (let i = 0; i < count; i++) yield block;
  if (last.length > 0) yield last;
}

/** The body cut into parts of `partSize` (copies, as S3Storage makes them). */
function* bodyParts(size: number, partSize: number): Generator<Buffer> {
  let pending: Buffer[] = [];
  let bytes = 0;
  for (const chunk of bodyChunks(size)) {
    let rest = chunk;
    while (rest.length > 0) {
      const take = Math.min(rest.length, partSize - bytes);
      pending.push(rest.subarray(0, take));
      bytes += take;
      rest = rest.subarray(take);
      if (bytes === partSize) {
        yield Buffer.concat(pending, bytes);
        pending = [];
        bytes = 0;
      }
    }
  }
  if (bytes > 0) yield Buffer.concat(pending, bytes);
}

interface Row {
  name: string;
  seconds: number[];
  note?: string;
}

// ---------------------------------------------------------------------------------------------
// The four ways up
// ---------------------------------------------------------------------------------------------

interface LinedropChild {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

async function startLinedrop(bucket: string, endpoint: string, prefix: string): Promise<LinedropChild> {
  const child = spawn(
    process.execPath,
    [
      LINEDROP,
      'receive',
      '--store',
      `s3://${bucket}/${prefix}`,
      '--s3-endpoint',
      endpoint,
      '--port',
      '0',
      '--host',
      HOST,
      '--json',
      '--quiet',
      '--log-format',
      'json',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      const line = stdout.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.on('exit', (code) => reject(new Error(`linedrop receive exited (${code}): ${stderr.trim()}`)));
  });
  return {
    port,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** One message through a plain socket; resolves with the seconds from the first byte to `A`. */
async function sendThroughLinedrop(port: number, size: number): Promise<number> {
  const socket = connect({ host: HOST, port });
  await once(socket, 'connect');
  socket.setNoDelay(true);
  const answer = new Promise<string>((resolve, reject) => {
    socket.once('data', (c: Buffer) => resolve(c.toString('latin1', 0, 1)));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('the server closed the connection without answering')));
  });
  const started = performance.now();
  socket.write(encodeCount(size / LINE));
  for (const chunk of bodyChunks(size)) {
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
  const status = await answer;
  const seconds = (performance.now() - started) / 1000;
  socket.end(Buffer.alloc(4));
  if (status !== 'A') throw new Error(`linedrop answered ${JSON.stringify(status)}`);
  return seconds;
}

async function sdkMultipart(
  client: S3Client,
  bucket: string,
  key: string,
  size: number,
  partSize: number,
  queue: number,
): Promise<number> {
  const started = performance.now();
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let number = 0;
  try {
    for (const body of bodyParts(size, partSize)) {
      const partNumber = ++number;
      const task: Promise<void> = client
        .send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId,
            PartNumber: partNumber,
            Body: body,
            ContentLength: body.length,
          }),
        )
        .then((out) => void parts.push({ PartNumber: partNumber, ETag: out.ETag! }))
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
      if (inFlight.size >= queue) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }),
    );
  } catch (err) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => undefined);
    throw err;
  }
  return (performance.now() - started) / 1000;
}

async function sdkLibStorage(
  client: S3Client,
  bucket: string,
  key: string,
  size: number,
  partSize: number,
  queue: number,
): Promise<number> {
  const started = performance.now();
  const body = new PassThrough({ highWaterMark: MiB });
  const upload = new Upload({ client, params: { Bucket: bucket, Key: key, Body: body }, partSize, queueSize: queue });
  const done = upload.done();
  for (const chunk of bodyChunks(size)) {
    if (!body.write(chunk)) await once(body, 'drain');
  }
  body.end();
  await done;
  return (performance.now() - started) / 1000;
}

async function sdkPut(client: S3Client, bucket: string, key: string, size: number): Promise<number> {
  const body = Buffer.concat([...bodyChunks(size)], size);
  const started = performance.now();
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: size }));
  return (performance.now() - started) / 1000;
}

// ---------------------------------------------------------------------------------------------
// Bucket housekeeping
// ---------------------------------------------------------------------------------------------

/** Ceph keeps deleted data for two hours; with LINEDROP_TEST_CEPH_DIR (scripts/ceph-test.sh) it is freed now. */
function collectGarbage(): void {
  const dir = process.env['LINEDROP_TEST_CEPH_DIR'];
  if (!dir) return;
  spawnSync('radosgw-admin', ['gc', 'process', '--include-all'], {
    env: { ...process.env, CEPH_CONF: join(dir, 'ceph.conf') },
    stdio: 'ignore',
    timeout: 60_000,
  });
}

async function checkSize(client: S3Client, bucket: string, key: string, size: number): Promise<void> {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  if (head.ContentLength !== size) throw new Error(`${key}: stored ${head.ContentLength} bytes, sent ${size}`);
}

async function remove(client: S3Client, bucket: string, key: string): Promise<void> {
  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  collectGarbage();
}

async function emptyAndDelete(client: S3Client, bucket: string): Promise<void> {
  const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  for (const o of listed.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of uploads.Uploads ?? [])
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }));
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  collectGarbage();
}

/** A process's resident memory now (`VmRSS`) or at its peak (`VmHWM`), from /proc (Linux). */
function rss(pid: number, which: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = new RegExp(`${which}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

function mbps(bytes: number, seconds: number): string {
  return (bytes / seconds / 1e6).toFixed(1);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [
    line(rows[0]!),
    `|${widths.map((w, i) => (i === 0 || i === widths.length - 1 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.slice(1).map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (!options.endpoint) {
    process.stderr.write(
      'bench:s3: no S3 gateway. Set LINEDROP_S3_ENDPOINT (and the AWS_* credentials), or start a ' +
        'local Ceph gateway around the benchmark:\n' +
        '  bash scripts/ceph-test.sh npm run bench:s3\n',
    );
    process.exitCode = 2;
    return;
  }
  const { size, partSize, queue, repeat, endpoint } = options;
  const client = createS3Client({ endpoint });
  const bucket = `linedrop-bench-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const log = (text: string): void => void process.stderr.write(`${text}\n`);
  log(
    `bench:s3: ${(size / MiB).toFixed(0)} MiB of ${LINE}-byte lines to ${endpoint} (bucket ` +
      `${bucket}), parts of ${(partSize / MiB).toFixed(0)} MiB, ${queue} in flight, best of ${repeat}`,
  );

  const rows: Row[] = [];
  let serverPeak: number | undefined;
  try {
    // A fresh gateway is slow at first (new pools, new bucket index): warm it up, untimed.
    await remove(
      client,
      bucket,
      await sdkMultipart(client, bucket, 'warm-up', Math.min(size, 64 * MiB), partSize, queue).then(() => 'warm-up'),
    );
    // linedrop: its own server process, so its memory is its own.
    const linedrop = await startLinedrop(bucket, endpoint, 'linedrop');
    const idle = rss(linedrop.pid, 'VmRSS');
    try {
      const row: Row = { name: 'linedrop (client -> server -> S3)', seconds: [] };
      rows.push(row);
      for (let i = 0; i < repeat; i++) {
        row.seconds.push(await sendThroughLinedrop(linedrop.port, size));
        await checkSize(client, bucket, 'linedrop/1.txt', size);
        await remove(client, bucket, 'linedrop/1.txt');
        log(`  linedrop run ${i + 1}: ${mbps(size, row.seconds.at(-1)!)} MB/s`);
      }
      serverPeak = rss(linedrop.pid, 'VmHWM');
      if (serverPeak !== undefined && idle !== undefined)
        row.note = `server RSS ${(idle / MiB).toFixed(0)} MiB idle, ${(serverPeak / MiB).toFixed(0)} MiB at peak`;
    } finally {
      await linedrop.stop();
    }
    const ways: [string, (key: string) => Promise<number>][] = [
      [`SDK multipart (UploadPart x${queue})`, (key) => sdkMultipart(client, bucket, key, size, partSize, queue)],
      ['SDK lib-storage Upload (stream)', (key) => sdkLibStorage(client, bucket, key, size, partSize, queue)],
    ];
    if (size <= GiB) ways.push(['SDK one PutObject (from memory)', (key) => sdkPut(client, bucket, key, size)]);
    for (const [name, run] of ways) {
      const row: Row = { name, seconds: [] };
      rows.push(row);
      for (let i = 0; i < repeat; i++) {
        const key = `sdk/${rows.length}-${i}.bin`;
        row.seconds.push(await run(key));
        await checkSize(client, bucket, key, size);
        await remove(client, bucket, key);
        log(`  ${name} run ${i + 1}: ${mbps(size, row.seconds.at(-1)!)} MB/s`);
      }
    }
  } finally {
    await emptyAndDelete(client, bucket).catch((err: Error) =>
      log(`bench:s3: could not remove bucket ${bucket}: ${err.message}`),
    );
  }

  const reference = Math.min(...rows[1]!.seconds);
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ size, partSize, queue, repeat, endpoint, serverPeakRss: serverPeak, rows: rows.map((r) => ({ name: r.name, seconds: r.seconds, bestMBps: size / Math.min(...r.seconds) / 1e6 })) }, null, 2)}\n`,
    );
    return;
  }
  const header = ['upload', 'best MB/s', 'median MB/s', 'best s', 'vs SDK multipart', 'note'];
  const body = rows.map((r) => {
    const sorted = [...r.seconds].sort((a, b) => a - b);
    const best = sorted[0]!;
    const median = sorted[Math.floor(sorted.length / 2)]!;
    return [
      r.name,
      mbps(size, best),
      mbps(size, median),
      best.toFixed(2),
      `${((reference / best) * 100).toFixed(0)}%`,
      r.note ?? '',
    ];
  });
  process.stdout.write(
    `\n${(size / MiB).toFixed(0)} MiB, parts of ${(partSize / MiB).toFixed(0)} MiB, ${queue} in ` +
      `flight, best of ${repeat} (MB/s = 10^6 bytes/s)\n\n${table([header, ...body])}\n`,
  );
}

main().catch((err: Error) => {
  process.stderr.write(`bench:s3: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
