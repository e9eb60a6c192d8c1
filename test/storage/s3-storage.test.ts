// S3Storage's own logic with a stand-in S3 client (no gateway needed; the real gateway is
// test/system/s3.test.ts and s3-upload.test.ts, `npm run test:s3`), and the `receive --store` command-line checks.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { main } from '../../src/cli/main.js';
import { S3Storage, S3StorageError, type FileSink } from '../../src/index.js';
import { createS3Client, parseS3Url } from '../../src/storage/index.js';
import { sessionName } from '../../src/storage/types.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

interface Call {
  name: string;
  input: Record<string, unknown>;
  signal?: AbortSignal;
}

/**
 * A stand-in for S3Client: records every command; `hold` makes UploadPart wait until released;
 * `fail` makes a command fail.
 */
class FakeS3 {
  readonly calls: Call[] = [];
  hold = false;
  readonly held: { number: number; release: () => void; reject: (err: Error) => void }[] = [];
  fail: ((call: Call) => Error | undefined) | undefined;
  private uploads = 0;
  readonly config = { endpoint: async () => ({ protocol: 'http:', hostname: 'fake', port: 9000, path: '/' }) };

  get client(): S3Client {
    return this as unknown as S3Client;
  }

  named(name: string): Call[] {
    return this.calls.filter((c) => c.name === name);
  }

  async send(
    command: { input: Record<string, unknown> },
    options?: { abortSignal?: AbortSignal },
  ): Promise<Record<string, unknown>> {
    const call: Call = {
      name: command.constructor.name,
      input: command.input,
      ...(options?.abortSignal ? { signal: options.abortSignal } : {}),
    };
    this.calls.push(call);
    await Promise.resolve();
    const err = this.fail?.(call);
    if (err) throw err;
    if (command instanceof CreateMultipartUploadCommand) return { UploadId: `upload-${++this.uploads}` };
    if (command instanceof UploadPartCommand) {
      if (this.hold) {
        await new Promise<void>((resolve, reject) => {
          this.held.push({ number: command.input.PartNumber!, release: resolve, reject });
          options?.abortSignal?.addEventListener('abort', () =>
            reject(Object.assign(new Error('aborted'), { name: 'AbortError' })),
          );
        });
      }
      return { ETag: `"etag-${command.input.PartNumber}"` };
    }
    if (command instanceof ListMultipartUploadsCommand) return { Uploads: [], IsTruncated: false };
    return {};
  }
}

function fakeStorage(fake: FakeS3, options: { layout?: 'flat' | 'session'; prefix?: string } = {}): S3Storage {
  return new S3Storage({
    bucket: 'bkt',
    prefix: options.prefix ?? 'up',
    layout: options.layout ?? 'flat',
    client: fake.client,
    partSize: PART,
    queueSize: 2,
  });
}

async function sink(storage: S3Storage, index = 1): Promise<FileSink> {
  return storage.openConnection({ id: 1, remoteAddress: '127.0.0.1', remotePort: 1 }).create(index);
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('S3Storage with a stand-in client', () => {
  test('a file no larger than a part is one PUT of exactly its bytes at commit, nothing before', async () => {
    const fake = new FakeS3();
    const file = await sink(fakeStorage(fake));
    file.write(Buffer.from('one\n'));
    file.write(Buffer.from('two\n'));
    await settle();
    assert.equal(fake.calls.length, 0, 'nothing is sent before commit');
    assert.deepEqual(await file.commit(), { name: '1.txt', location: 's3://bkt/up/1.txt', bytes: 8 });
    assert.deepEqual(
      fake.calls.map((c) => c.name),
      ['PutObjectCommand'],
    );
    const put = fake.calls[0]!.input;
    assert.equal(put['Key'], 'up/1.txt');
    assert.equal(put['Bucket'], 'bkt');
    assert.equal(String(put['Body']), 'one\ntwo\n');
    assert.equal(put['ContentLength'], 8);
  });

  test('a larger file: parts as they fill, in order, then the last part and Complete at commit', async () => {
    const fake = new FakeS3();
    const file = await sink(fakeStorage(fake));
    const chunk = Buffer.alloc(MiB, 'x');
    for (let i = 0; i < 11; i++) if (!file.write(chunk)) await file.drained();
    await settle();
    assert.deepEqual(
      fake.named('UploadPartCommand').map((c) => c.input['PartNumber']),
      [1, 2],
      'two full parts sent before commit',
    );
    const stored = await file.commit();
    assert.equal(stored.bytes, 11 * MiB);
    const parts = fake.named('UploadPartCommand');
    assert.deepEqual(
      parts.map((c) => [c.input['PartNumber'], (c.input['Body'] as Buffer).length]),
      [
        [1, PART],
        [2, PART],
        [3, MiB],
      ],
    );
    assert.ok(parts.every((c) => c.input['UploadId'] === 'upload-1'));
    const complete = fake.named('CompleteMultipartUploadCommand');
    assert.equal(complete.length, 1);
    assert.deepEqual(complete[0]!.input['MultipartUpload'], {
      Parts: [1, 2, 3].map((n) => ({ PartNumber: n, ETag: `"etag-${n}"` })),
    });
    assert.equal(fake.named('AbortMultipartUploadCommand').length, 0);
  });

  test('write returns false past the high-water mark; drained resolves once a part is stored', async () => {
    const fake = new FakeS3();
    fake.hold = true;
    const storage = fakeStorage(fake); // 2 parts at once, high-water mark 3 parts
    const file = await sink(storage);
    const chunk = Buffer.alloc(MiB, 'y');
    let accepted = 0;
    while (file.write(chunk)) accepted++;
    assert.equal(accepted + 1, 15, 'false once 15 MiB (3 parts of 5 MiB) are held');
    let drained = false;
    const waiting = file.drained().then(() => (drained = true));
    await settle();
    assert.equal(fake.held.length, 2, 'two parts in flight (queueSize), the third waits');
    assert.equal(drained, false);
    fake.held.shift()!.release();
    await waiting;
    assert.equal(drained, true);
    fake.hold = false;
    for (const h of fake.held.splice(0)) h.release();
    await file.commit();
    assert.equal(fake.named('UploadPartCommand').length, 3);
  });

  test('a failed part: write returns false, drained and commit reject with S3StorageError, the upload is aborted', async () => {
    const fake = new FakeS3();
    fake.fail = (call) =>
      call.name === 'UploadPartCommand'
        ? Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' })
        : undefined;
    const file = await sink(fakeStorage(fake));
    for (let i = 0; i < 6; i++) file.write(Buffer.alloc(MiB));
    await settle();
    await settle();
    assert.equal(file.write(Buffer.from('more\n')), false, 'write tells the caller to ask drained()');
    await assert.rejects(
      file.drained(),
      (err: Error) =>
        err instanceof S3StorageError && /cannot store s3:\/\/bkt\/up\/1\.txt: .*ECONNREFUSED/.test(err.message),
    );
    await assert.rejects(file.commit(), S3StorageError);
    const aborts = fake.named('AbortMultipartUploadCommand');
    assert.deepEqual(
      aborts.map((c) => [c.input['Key'], c.input['UploadId']]),
      [['up/1.txt', 'upload-1']],
    );
    assert.equal(fake.named('CompleteMultipartUploadCommand').length, 0);
  });

  test('abort cancels the parts in flight and aborts the multipart upload; a small file sends nothing', async () => {
    const fake = new FakeS3();
    fake.hold = true;
    const storage = fakeStorage(fake);
    const file = await sink(storage);
    for (let i = 0; i < 12; i++) file.write(Buffer.alloc(MiB));
    await settle();
    assert.equal(fake.held.length, 2);
    await file.abort();
    const parts = fake.named('UploadPartCommand');
    assert.ok(
      parts.every((c) => c.signal?.aborted),
      'in-flight parts were cancelled',
    );
    assert.deepEqual(
      fake.named('AbortMultipartUploadCommand').map((c) => c.input['UploadId']),
      ['upload-1'],
    );
    assert.equal(fake.named('CompleteMultipartUploadCommand').length + fake.named('PutObjectCommand').length, 0);

    const before = fake.calls.length;
    const small = await sink(storage, 2);
    small.write(Buffer.from('short\n'));
    await small.abort();
    assert.equal(fake.calls.length, before, 'nothing was stored for the small file');
  });

  test('an abort that fails (gateway down) is tried again when the next file starts', async () => {
    const fake = new FakeS3();
    let down = true;
    fake.fail = (call) =>
      down && call.name !== 'CreateMultipartUploadCommand' ? new Error('connect ECONNREFUSED') : undefined;
    const storage = fakeStorage(fake);
    const file = await sink(storage);
    for (let i = 0; i < 6; i++) file.write(Buffer.alloc(MiB));
    await assert.rejects(file.commit());
    assert.equal(storage.pendingAborts, 1);
    down = false;
    const next = await sink(storage, 2);
    await settle();
    await settle();
    assert.equal(storage.pendingAborts, 0);
    const aborts = fake.named('AbortMultipartUploadCommand');
    assert.equal(aborts.length, 2, 'tried, failed, tried again');
    assert.equal(aborts[1]!.input['UploadId'], 'upload-1');
    next.write(Buffer.from('x\n'));
    await next.commit();
  });

  test('a CompleteMultipartUpload that fails rejects commit and aborts the upload', async () => {
    const fake = new FakeS3();
    fake.fail = (call) =>
      call.name === 'CompleteMultipartUploadCommand'
        ? Object.assign(new Error('We encountered an internal error.'), { name: 'InternalError' })
        : undefined;
    const file = await sink(fakeStorage(fake));
    for (let i = 0; i < 7; i++) file.write(Buffer.alloc(MiB));
    await assert.rejects(file.commit(), /InternalError/);
    assert.equal(fake.named('AbortMultipartUploadCommand').length, 1);
  });

  test('keys: flat PREFIX/k.txt, session PREFIX/<time>-<instance>-<counter>/k.txt, no prefix', async () => {
    const fake = new FakeS3();
    const flat = new S3Storage({ bucket: 'bkt', prefix: '/a//b/', client: fake.client });
    assert.equal(flat.location, 's3://bkt/a/b/');
    const conn = flat.openConnection({ id: 1, remoteAddress: 'x', remotePort: 1 });
    assert.equal(conn.location, 's3://bkt/a/b/');
    assert.equal((await (await conn.create(3)).commit()).location, 's3://bkt/a/b/3.txt');

    const session = new S3Storage({
      bucket: 'bkt',
      prefix: 'p',
      layout: 'session',
      instanceId: 'abc123',
      client: fake.client,
    });
    const one = session.openConnection({ id: 1, remoteAddress: 'x', remotePort: 1 });
    const two = session.openConnection({ id: 2, remoteAddress: 'x', remotePort: 2 });
    assert.match(one.location, /^s3:\/\/bkt\/p\/\d{8}T\d{9}Z-abc123-000001\/$/);
    assert.match(two.location, /^s3:\/\/bkt\/p\/\d{8}T\d{9}Z-abc123-000002\/$/);
    assert.match(
      (await (await two.create(1)).commit()).location,
      /^s3:\/\/bkt\/p\/\d{8}T\d{9}Z-abc123-000002\/1\.txt$/,
    );

    const bare = new S3Storage({ bucket: 'bkt', client: fake.client });
    assert.equal(bare.location, 's3://bkt/');
    assert.equal(
      (await (await bare.openConnection({ id: 1, remoteAddress: 'x', remotePort: 1 }).create(1)).commit()).location,
      's3://bkt/1.txt',
    );
    assert.equal(sessionName('a1b2c3', 7, new Date('2026-11-24T16:15:30.123Z')), '20261124T161530123Z-a1b2c3-000007');
  });

  test('init: HeadBucket, then stale uploads under the prefix; a 404 says no such bucket', async () => {
    const fake = new FakeS3();
    assert.equal(await fakeStorage(fake).init(), 0);
    assert.deepEqual(
      fake.calls.map((c) => c.name),
      ['HeadBucketCommand', 'ListMultipartUploadsCommand'],
    );
    assert.equal(fake.calls[1]!.input['Prefix'], 'up/');
    const missing = new FakeS3();
    missing.fail = (call) =>
      call.name === 'HeadBucketCommand'
        ? Object.assign(new Error('UnknownError'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } })
        : undefined;
    await assert.rejects(
      fakeStorage(missing).init(),
      (err: Error) =>
        err instanceof S3StorageError &&
        err.message === 'cannot reach bucket bkt at http://fake:9000: no such bucket (HTTP 404)',
    );
  });

  test('options: part size and queue are checked; path style is the default for non-AWS endpoints only', async () => {
    assert.throws(() => new S3Storage({ bucket: 'b', partSize: MiB, client: new FakeS3().client }), RangeError);
    assert.throws(() => new S3Storage({ bucket: 'b', queueSize: 0, client: new FakeS3().client }), RangeError);
    assert.throws(() => new S3Storage({ bucket: 'a/b', client: new FakeS3().client }), TypeError);
    assert.equal(createS3Client({ endpoint: 'http://127.0.0.1:7480' }).config.forcePathStyle, true);
    assert.equal(
      createS3Client({ endpoint: 'http://127.0.0.1:7480', forcePathStyle: false }).config.forcePathStyle,
      false,
    );
    assert.equal(
      createS3Client({ endpoint: 'https://s3.eu-west-1.amazonaws.com', region: 'eu-west-1' }).config.forcePathStyle,
      false,
    );
    assert.equal(createS3Client({ region: 'eu-west-1' }).config.forcePathStyle, false);
    assert.equal(
      await createS3Client({ endpoint: 'http://127.0.0.1:7480', region: 'zone-a' }).config.region(),
      'zone-a',
    );
  });

  test('parseS3Url', () => {
    assert.deepEqual(parseS3Url('s3://bucket/some/prefix/'), { bucket: 'bucket', prefix: 'some/prefix' });
    assert.deepEqual(parseS3Url('s3://bucket'), { bucket: 'bucket', prefix: '' });
    assert.deepEqual(parseS3Url('s3://bucket/'), { bucket: 'bucket', prefix: '' });
    assert.throws(() => parseS3Url('http://bucket/x'), /expected s3:\/\/BUCKET\/PREFIX/);
    assert.throws(() => parseS3Url('s3:///x'), /expected s3:\/\/BUCKET\/PREFIX/);
  });
});

async function cli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (c: Buffer) => (text += c.toString()));
  try {
    const code = await main(argv, { stdin: new PassThrough(), stdout: new PassThrough(), stderr });
    return { code, stderr: text };
  } finally {
    for (const key of Object.keys(env)) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
}

describe('receive --store on the command line: usage errors (exit 2), an unreachable bucket (exit 3)', () => {
  test('--store and --dir together', async () => {
    const r = await cli(['receive', '--store', 's3://b/p', '--dir', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--store.*cannot be used with.*--dir/);
  });

  test('--store with LINEDROP_DIR set', async () => {
    const r = await cli(['receive', '--store', 's3://b/p'], { LINEDROP_DIR: 'x' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--store.*cannot be used with.*LINEDROP_DIR/);
  });

  test('a --store that is not s3://BUCKET/PREFIX', async () => {
    const r = await cli(['receive', '--store', 'http://b/p']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not an S3 location: "http:\/\/b\/p"/);
  });

  test('--s3-endpoint without --store, and a bad --s3-endpoint', async () => {
    const stray = await cli(['receive', '--s3-endpoint', 'http://127.0.0.1:7480', '--s3-region', 'x']);
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /--s3-endpoint, --s3-region need --store s3:\/\/BUCKET\/PREFIX/);
    const bad = await cli(['receive', '--store', 's3://b', '--s3-endpoint', 'localhost:7480']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--s3-endpoint must be/);
  });

  test('a bucket that cannot be reached: exit 3 with the reason', async () => {
    // Port 1 on loopback: nothing listens there; one try, no credentials lookup beyond these.
    const r = await cli(
      ['receive', '--store', 's3://b/p', '--s3-endpoint', 'http://127.0.0.1:1', '--port', '0', '--host', '127.0.0.1'],
      {
        AWS_ACCESS_KEY_ID: 'k',
        AWS_SECRET_ACCESS_KEY: 's',
        AWS_MAX_ATTEMPTS: '1',
      },
    );
    assert.equal(r.code, 3);
    assert.match(r.stderr, /cannot reach bucket b at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
  });
});
