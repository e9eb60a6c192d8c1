// One file's upload into S3 (src/storage/s3-upload.ts) against a real gateway, without the server:
// where its parts are cut, what the gateway ends up holding, and what a failed part leaves behind.
// `npm run test:s3` runs it against a local Ceph gateway (s3-gateway.ts); without one it is skipped.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { S3Storage, S3StorageError, type FileSink, type S3StorageOptions } from '../../src/index.js';
import { createS3Client } from '../../src/storage/index.js';
import {
  admin,
  bucket,
  clear,
  ENDPOINT,
  listKeys,
  listUploads,
  openBucket,
  readObject,
  removeBucket,
  SKIP,
} from './s3-gateway.js';

const MiB = 1024 * 1024;
/** S3's smallest part, and the part size of these tests. */
const PART = 5 * MiB;

function storage(options: Partial<S3StorageOptions>): S3Storage {
  return new S3Storage({ bucket, endpoint: ENDPOINT!, partSize: PART, ...options });
}

/** The first file of a new connection: `PREFIX/1.txt`. */
function firstFile(store: S3Storage): Promise<FileSink> {
  return store.openConnection({ id: 1, remoteAddress: '127.0.0.1', remotePort: 1 }).create(1);
}

/** Writes `body` in pieces of these sizes, waiting when the sink asks to. */
async function writeIn(file: FileSink, body: Buffer, sizes: number[]): Promise<void> {
  let at = 0;
  for (const size of sizes) {
    if (!file.write(body.subarray(at, (at += size)))) await file.drained();
  }
  assert.equal(at, body.length, 'the pieces add up to the body');
}

function md5(data: Buffer): Buffer {
  return createHash('md5').update(data).digest();
}

/**
 * The ETag S3 gives an object completed from parts of these sizes: the MD5 of the parts' MD5s, then `-` and their
 * count.
 */
function multipartETag(body: Buffer, sizes: number[]): string {
  let at = 0;
  const digests = sizes.map((size) => md5(body.subarray(at, (at += size))));
  assert.equal(at, body.length, 'the parts add up to the body');
  return `"${md5(Buffer.concat(digests)).toString('hex')}-${sizes.length}"`;
}

async function etag(key: string): Promise<string | undefined> {
  return (await admin().send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ETag;
}

describe('one file uploaded to a real S3 gateway', { skip: SKIP }, () => {
  before(openBucket);
  after(removeBucket);

  test(
    "a part is cut as soon as it holds 5 MiB (S3's smallest part), the last one is short, and " +
      'the gateway holds exactly those parts',
    async () => {
      const store = storage({ prefix: 'parts' });
      try {
        const body = randomBytes(PART + 6 * MiB + 123_457);
        const file = await firstFile(store);
        // 5 MiB - 1 and 1: a part of exactly 5 MiB. 3 and 3 MiB: a part of 6 MiB (a write is not split). Then a short
        // last part.
        await writeIn(file, body, [PART - 1, 1, 3 * MiB, 3 * MiB, 123_457]);
        assert.deepEqual(await file.commit(), {
          name: '1.txt',
          location: `s3://${bucket}/parts/1.txt`,
          bytes: body.length,
        });
        assert.equal(
          await etag('parts/1.txt'),
          multipartETag(body, [PART, 6 * MiB, 123_457]),
          'the object is those three parts',
        );
        assert.ok((await readObject('parts/1.txt')).equals(body), 'the object is the bytes written, in order');
        assert.deepEqual(await listUploads('parts/'), [], 'no unfinished upload');

        // One byte less than a part: never a multipart upload, one PUT at commit (its ETag is the body's MD5).
        const small = randomBytes(PART - 1);
        const one = await firstFile(store);
        await writeIn(one, small, [MiB, PART - 1 - MiB]);
        assert.equal((await one.commit()).bytes, small.length);
        assert.equal(await etag('parts/1.txt'), `"${md5(small).toString('hex')}"`, 'one PUT');
        assert.ok((await readObject('parts/1.txt')).equals(small));

        // Exactly one part: it goes up as soon as it is full, before the file is known to end, so the object is one
        // part.
        const exact = randomBytes(PART);
        const full = await firstFile(store);
        await writeIn(full, exact, [2 * MiB, 3 * MiB]);
        assert.equal((await full.commit()).bytes, exact.length);
        assert.equal(await etag('parts/1.txt'), multipartETag(exact, [PART]), 'a multipart upload of one part');
        assert.ok((await readObject('parts/1.txt')).equals(exact));
        assert.deepEqual(await listUploads('parts/'), []);
      } finally {
        await clear('parts/');
      }
    },
  );

  test(
    'a part that fails: commit rejects naming the key, the multipart upload is aborted at the ' +
      'gateway, the earlier object stays',
    async () => {
      const earlier = await firstFile(storage({ prefix: 'failed' }));
      earlier.write(Buffer.from('the earlier file\n'));
      await earlier.commit();

      // A real client whose second part never leaves: the connection resets before it is sent.
      const client = createS3Client({ endpoint: ENDPOINT! });
      const created: string[] = [];
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'UploadPartCommand' && (args.input as { PartNumber?: number }).PartNumber === 2) {
            throw Object.assign(new Error('socket hang up'), { name: 'ECONNRESET' });
          }
          const out = await next(args);
          if (context.commandName === 'CreateMultipartUploadCommand')
            created.push(String((out.output as { UploadId?: string }).UploadId));
          return out;
        },
        { step: 'initialize', name: 'resetPartTwo' },
      );
      const store = storage({ prefix: 'failed', client });
      try {
        const file = await firstFile(store);
        const body = randomBytes(3 * PART + 1000);
        await writeIn(file, body, [PART, PART, PART, 1000]).catch(() => undefined); // drained() may reject already
        await assert.rejects(file.commit(), (err: Error) => {
          assert.ok(err instanceof S3StorageError, String(err));
          assert.equal(err.message, `cannot store s3://${bucket}/failed/1.txt: ECONNRESET: socket hang up`);
          return true;
        });
        assert.equal(created.length, 1, 'a multipart upload had been created at the gateway');
        assert.deepEqual(await listUploads('failed/'), [], 'it was aborted: no parts left behind');
        assert.equal(store.pendingAborts, 0);
        assert.deepEqual(await listKeys('failed/'), ['failed/1.txt']);
        assert.equal(
          (await readObject('failed/1.txt')).toString(),
          'the earlier file\n',
          'the failed upload replaced nothing',
        );
      } finally {
        await clear('failed/');
      }
    },
  );
});
