// The real S3 gateway the S3 system tests run against (s3.test.ts, s3-upload.test.ts): where it is,
// a bucket of the test file's own, and what the tests read back from it. `npm run test:s3` starts
// a one-node Ceph cluster with its RADOS gateway on 127.0.0.1 (scripts/ceph-test.sh); without a
// gateway (LINEDROP_TEST_S3_ENDPOINT unset, as in a plain `npm test`) the tests are skipped.
//
//   LINEDROP_TEST_S3_ENDPOINT   the gateway, e.g. http://127.0.0.1:7480 (credentials: the AWS_* variables)
//   LINEDROP_TEST_CEPH_DIR      the cluster's folder (start-rgw.sh's D): lets the tests stop and restart
//                               radosgw, and run its garbage collection so the RAM-only OSD never fills
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/storage/index.js';

export const ENDPOINT = process.env['LINEDROP_TEST_S3_ENDPOINT'] || undefined;
export const CEPH_DIR = process.env['LINEDROP_TEST_CEPH_DIR'] || undefined;
/** The `skip` of a suite that needs the gateway. */
export const SKIP = ENDPOINT
  ? false
  : 'no S3 gateway: run `npm run test:s3` (starts a local Ceph gateway), or set ' +
    'LINEDROP_TEST_S3_ENDPOINT and the AWS_* credentials';

/** This test file's bucket (each file runs in a process of its own, so each has its own bucket). */
export const bucket = `linedrop-test-${randomBytes(4).toString('hex')}`;

let adminClient: S3Client | undefined;

/** The client the tests create, read and clean the bucket with (not the one under test). */
export function admin(): S3Client {
  if (!adminClient) throw new Error('openBucket() first');
  return adminClient;
}

/** Creates the bucket (a suite's `before`). */
export async function openBucket(): Promise<void> {
  adminClient = createS3Client({ endpoint: ENDPOINT! });
  await adminClient.send(new CreateBucketCommand({ Bucket: bucket }));
}

/** Empties and deletes the bucket (a suite's `after`). */
export async function removeBucket(): Promise<void> {
  if (!adminClient) return;
  await clear().catch(() => undefined);
  await adminClient.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
  collectGarbage();
}

export async function readObject(key: string): Promise<Buffer> {
  const out = await admin().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

export async function listKeys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await admin().send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }),
    );
    for (const object of page.Contents ?? []) keys.push(object.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** The unfinished multipart uploads under `prefix`, as the gateway lists them. */
export async function listUploads(prefix = ''): Promise<{ key: string; uploadId: string }[]> {
  const page = await admin().send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (page.Uploads ?? []).map((u) => ({ key: u.Key!, uploadId: u.UploadId! }));
}

/** Deletes objects and unfinished uploads under `prefix`, then lets the gateway free their space. */
export async function clear(prefix = ''): Promise<void> {
  for (const key of await listKeys(prefix)) await admin().send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  for (const u of await listUploads(prefix))
    await admin()
      .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.key, UploadId: u.uploadId }))
      .catch(() => undefined);
  collectGarbage();
}

/**
 * The gateway frees deleted data only after a two-hour wait; the test cluster's OSD lives in
 * 1 GiB of RAM, so the tests ask for it at once.
 */
export function collectGarbage(): void {
  if (!CEPH_DIR) return;
  spawnSync('radosgw-admin', ['gc', 'process', '--include-all'], { env: cephEnv(), stdio: 'ignore', timeout: 60_000 });
}

/** The environment for the cluster's own tools (radosgw, radosgw-admin). */
export function cephEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CEPH_CONF: join(CEPH_DIR!, 'ceph.conf') };
}
