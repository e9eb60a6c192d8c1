// Object storage (`S3Storage`): the bucket reached and its stale multipart uploads aborted at
// start, each connection's keys (flat or per session), and the aborts that failed, tried again.
// One file's upload is s3-upload.ts; the settings, client and errors are s3-client.ts.
import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  createS3Client,
  DEFAULT_S3_PART_SIZE,
  DEFAULT_S3_QUEUE_SIZE,
  DEFAULT_S3_STALE_UPLOAD_MS,
  describeS3Error,
  normalizePrefix,
  S3_MIN_PART_SIZE,
  S3StorageError,
  type S3StorageOptions,
  sdk,
} from './s3-client.js';
import { S3FileSink } from './s3-upload.js';
import {
  sessionName,
  type ConnectionInfo,
  type ConnectionStore,
  type FileSink,
  type Layout,
  type Storage,
} from './types.js';

function isNoSuchUpload(err: unknown): boolean {
  return err instanceof Error && (err.name === 'NoSuchUpload' || (err as { Code?: unknown }).Code === 'NoSuchUpload');
}

/**
 * Uploads kept in an S3 bucket (AWS, Ceph's RADOS gateway, MinIO, ...), with the promise of
 * `DirectoryStorage`: `commit()` resolves only once the object is completely stored, and an
 * upload that does not complete leaves no object at its key.
 *
 * A file smaller than one part goes up as one PUT when it is committed. Any other is a
 * multipart upload: each full part (8 MiB) is uploaded as soon as it is filled, a few at once,
 * and `commit()` uploads the last part and completes the upload; `abort()` cancels what is in
 * flight and aborts the upload, so no parts are left behind. A file holds at most about
 * `(queueSize + 1) * partSize` bytes in memory: past that `write()` returns false and the server
 * stops reading from the client until a part is stored.
 *
 * `flat`: every connection writes `PREFIX/1.txt`, `PREFIX/2.txt`, ... (later connections
 * overwrite). `session`: `PREFIX/<time>-<instance>-<counter>/k.txt`, nothing overwritten.
 */
export class S3Storage implements Storage {
  readonly location: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly layout: Layout;
  readonly instanceId: string;
  readonly client: S3Client;
  readonly partSize: number;
  readonly queueSize: number;
  readonly highWaterMark: number;
  private readonly staleUploadMs: number;
  private sessions = 0;
  private ready: Promise<number> | undefined;
  /** Multipart uploads whose abort failed (the gateway was down): tried again when the next file starts. */
  private readonly unaborted = new Map<string, string>();
  private retrying: Promise<void> | undefined;

  constructor(options: S3StorageOptions) {
    if (!options.bucket || options.bucket.includes('/'))
      throw new TypeError(`not a bucket name: ${JSON.stringify(options.bucket)}`);
    this.bucket = options.bucket;
    this.prefix = normalizePrefix(options.prefix ?? '');
    this.layout = options.layout ?? 'flat';
    this.instanceId = options.instanceId ?? randomBytes(3).toString('hex');
    this.client = options.client ?? createS3Client(options);
    this.partSize = options.partSize ?? DEFAULT_S3_PART_SIZE;
    this.queueSize = options.queueSize ?? DEFAULT_S3_QUEUE_SIZE;
    this.highWaterMark = options.highWaterMark ?? (this.queueSize + 1) * this.partSize;
    this.staleUploadMs = options.staleUploadMs ?? DEFAULT_S3_STALE_UPLOAD_MS;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < S3_MIN_PART_SIZE)
      throw new RangeError(`partSize must be at least ${S3_MIN_PART_SIZE} bytes (S3's smallest part)`);
    if (!Number.isSafeInteger(this.queueSize) || this.queueSize < 1)
      throw new RangeError('queueSize must be at least 1');
    // Below one part, a part being filled could hold the caller back with nothing in flight to free it.
    if (!(this.highWaterMark >= this.partSize)) throw new RangeError('highWaterMark must be at least partSize');
    this.location = `s3://${this.bucket}/${this.prefix === '' ? '' : `${this.prefix}/`}`;
  }

  /**
   * Checks that the bucket can be reached (HeadBucket), then aborts unfinished multipart uploads
   * under the prefix older than `staleUploadMs` (a crash's left-overs). Returns how many it aborted.
   * @throws S3StorageError when the bucket cannot be reached.
   */
  init(): Promise<number> {
    this.ready ??= this.prepare().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  openConnection(_info: ConnectionInfo): ConnectionStore {
    const folder =
      this.layout === 'flat'
        ? this.prefix
        : [this.prefix, sessionName(this.instanceId, ++this.sessions)].filter((p) => p !== '').join('/');
    return new KeyStore(this, folder);
  }

  /** The `s3://` address of a key. */
  url(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  /** Multipart uploads whose abort has failed so far and will be tried again. */
  get pendingAborts(): number {
    return this.unaborted.size;
  }

  /** Aborts a multipart upload; never rejects. One that cannot be aborted now is tried again later. */
  async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(
        new (sdk().AbortMultipartUploadCommand)({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      );
      this.unaborted.delete(uploadId);
    } catch (err) {
      if (isNoSuchUpload(err)) this.unaborted.delete(uploadId);
      else this.unaborted.set(uploadId, key);
    }
  }

  /** Tries again the aborts that failed (in the background; at most one round at a time). */
  retryAborts(): void {
    if (this.unaborted.size === 0 || this.retrying) return;
    this.retrying = (async () => {
      for (const [uploadId, key] of [...this.unaborted]) await this.abortUpload(key, uploadId);
    })().finally(() => (this.retrying = undefined));
  }

  private async prepare(): Promise<number> {
    try {
      await this.client.send(new (sdk().HeadBucketCommand)({ Bucket: this.bucket }));
    } catch (err) {
      const endpoint = await this.endpointText();
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const why =
        status === 404
          ? 'no such bucket (HTTP 404)'
          : status === 403
            ? 'access denied (HTTP 403): check the credentials (AWS_ACCESS_KEY_ID and ' +
              "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and the bucket's policy"
            : status === 301
              ? 'the bucket is in another region (HTTP 301): give its region'
              : describeS3Error(err);
      throw new S3StorageError(`cannot reach bucket ${this.bucket}${endpoint}: ${why}`, { cause: err });
    }
    if (this.staleUploadMs <= 0) return 0;
    return this.abortStaleUploads(Date.now() - this.staleUploadMs).catch(() => 0);
  }

  private async abortStaleUploads(before: number): Promise<number> {
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new (sdk().ListMultipartUploadsCommand)({
          Bucket: this.bucket,
          ...(this.prefix !== '' ? { Prefix: `${this.prefix}/` } : {}),
          ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}),
          ...(uploadIdMarker !== undefined ? { UploadIdMarker: uploadIdMarker } : {}),
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined || upload.Initiated === undefined) continue;
        if (upload.Initiated.getTime() >= before) continue;
        await this.client
          .send(
            new (sdk().AbortMultipartUploadCommand)({
              Bucket: this.bucket,
              Key: upload.Key,
              UploadId: upload.UploadId,
            }),
          )
          .then(
            () => aborted++,
            () => undefined,
          );
      }
      if (!page.IsTruncated || (page.NextKeyMarker === undefined && page.NextUploadIdMarker === undefined))
        return aborted;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  private async endpointText(): Promise<string> {
    try {
      const endpoint = await this.client.config.endpoint?.();
      return endpoint
        ? ` at ${endpoint.protocol}//${endpoint.hostname}${endpoint.port ? `:${endpoint.port}` : ''}${endpoint.path === '/' ? '' : endpoint.path}`
        : '';
    } catch {
      return '';
    }
  }
}

/** One connection's keys: `FOLDER/k.txt`. */
class KeyStore implements ConnectionStore {
  readonly location: string;

  constructor(
    private readonly storage: S3Storage,
    private readonly folder: string,
  ) {
    this.location = storage.url(folder === '' ? '' : `${folder}/`);
  }

  async create(index: number): Promise<FileSink> {
    this.storage.retryAborts();
    const name = `${index}.txt`;
    return new S3FileSink(this.storage, this.folder === '' ? name : `${this.folder}/${name}`, name);
  }
}
