import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as S3Sdk from '@aws-sdk/client-s3';
import type { CompletedPart, S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { WriteGate } from './gate.js';
import { sessionName, type ConnectionInfo, type ConnectionStore, type FileSink, type Layout, type Storage, type StoredFile } from './types.js';

/** The AWS SDK, loaded on first use: a program that keeps files on disk never pays its start-up. */
let sdkModule: typeof S3Sdk | undefined;
function sdk(): typeof S3Sdk {
  return (sdkModule ??= createRequire(import.meta.url)('@aws-sdk/client-s3') as typeof S3Sdk);
}

const MiB = 1024 * 1024;
/** S3's smallest part (all but the last part of a multipart upload). */
export const S3_MIN_PART_SIZE = 5 * MiB;
/** S3's most parts in one multipart upload. */
export const S3_MAX_PARTS = 10_000;
export const DEFAULT_S3_PART_SIZE = 8 * MiB;
export const DEFAULT_S3_QUEUE_SIZE = 4;
/** Unfinished multipart uploads under the prefix older than this are aborted by `init()`. */
export const DEFAULT_S3_STALE_UPLOAD_MS = 24 * 60 * 60 * 1000;

const CONTENT_TYPE = 'text/plain';

export interface S3StorageOptions {
  bucket: string;
  /** Key prefix, `uploads` or `uploads/` (default: none, keys at the bucket's top). */
  prefix?: string;
  /** `flat` (default): `PREFIX/k.txt`, later connections overwrite. `session`: `PREFIX/SESSION/k.txt`. */
  layout?: Layout;
  /** Names this server in session names, so servers sharing a prefix never collide (default: random). */
  instanceId?: string;
  /** A client of your own; `endpoint`, `region`, `forcePathStyle`, `credentials`, `maxAttempts` and `socketTimeoutMs` are then ignored. */
  client?: S3Client;
  /** Endpoint of an S3-compatible gateway (`http://127.0.0.1:7480`); default: AWS. */
  endpoint?: string;
  /** Default: the SDK's (`AWS_REGION`, the profile); `us-east-1` with a non-AWS endpoint when neither names one. */
  region?: string;
  /** Bucket in the path (`endpoint/BUCKET/key`). Default: on for a non-AWS endpoint, off for AWS. */
  forcePathStyle?: boolean;
  /** Default: the SDK's chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, shared files, SSO, instance roles). */
  credentials?: S3ClientConfig['credentials'];
  /** Tries per request, the first included (default: the SDK's, 3, or `AWS_MAX_ATTEMPTS`). */
  maxAttempts?: number;
  /** A request whose socket is silent this long fails (default 30 s). */
  socketTimeoutMs?: number;
  /** Bytes per part of a multipart upload (default 8 MiB, at least 5 MiB). A file no larger is stored with one PUT. */
  partSize?: number;
  /** Parts of one file uploaded at once (default 4). */
  queueSize?: number;
  /** Bytes one file may hold in memory before `write` asks the server to wait (default `(queueSize + 1) * partSize`; at least `partSize`). */
  highWaterMark?: number;
  /** `init()` aborts unfinished multipart uploads under the prefix older than this (default one day; 0: never). */
  staleUploadMs?: number;
}

/** `s3://BUCKET/PREFIX` split into its bucket and prefix. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url.trim());
  if (!match) throw new Error(`not an S3 location: ${JSON.stringify(url)} (expected s3://BUCKET/PREFIX)`);
  return { bucket: match[1]!, prefix: normalizePrefix(match[2] ?? '') };
}

/** `/a//b/` → `a/b`: no leading, trailing or doubled slash. */
function normalizePrefix(prefix: string): string {
  return prefix
    .split('/')
    .filter((part) => part !== '')
    .join('/');
}

function isAwsEndpoint(endpoint: string): boolean {
  try {
    const host = new URL(endpoint).hostname;
    return host === 'amazonaws.com' || host.endsWith('.amazonaws.com') || host.endsWith('.amazonaws.com.cn');
  } catch {
    return false;
  }
}

/** The S3 client `S3Storage` makes when it is not handed one. */
export function createS3Client(
  options: Pick<S3StorageOptions, 'endpoint' | 'region' | 'forcePathStyle' | 'credentials' | 'maxAttempts' | 'socketTimeoutMs'>,
): S3Client {
  const { endpoint } = options;
  const aws = endpoint === undefined || isAwsEndpoint(endpoint);
  const region = options.region ?? (!aws && !process.env['AWS_REGION'] ? 'us-east-1' : undefined);
  return new (sdk().S3Client)({
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    forcePathStyle: options.forcePathStyle ?? !aws,
    // Checksums only where S3 requires them: gateways such as Ceph's refuse the trailing
    // checksums the SDK would otherwise add. Each part is signed (plain HTTP) or sent over TLS.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
    requestHandler: { connectionTimeout: 10_000, socketTimeout: options.socketTimeoutMs ?? 30_000 },
  });
}

/** Why an S3 request failed, in one line: `NoSuchBucket (HTTP 404): The specified bucket does not exist`. */
export function describeS3Error(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const code = (err as { code?: unknown }).code;
  const name = err.name !== 'Error' ? err.name : typeof code === 'string' ? code : '';
  const head = [name, status !== undefined ? `(HTTP ${status})` : ''].filter((s) => s !== '').join(' ');
  const message = err.message && err.message !== err.name && err.message !== 'UnknownError' ? err.message : '';
  return [head, message].filter((s) => s !== '').join(': ') || 'unknown error';
}

/** A failure of object storage, with the key or bucket it concerns. */
export class S3StorageError extends Error {
  override readonly name = 'S3StorageError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

function isNoSuchUpload(err: unknown): boolean {
  return err instanceof Error && (err.name === 'NoSuchUpload' || (err as { Code?: unknown }).Code === 'NoSuchUpload');
}

/**
 * Uploads kept in an S3 bucket (AWS, Ceph's RADOS gateway, MinIO, ...), with the promise of
 * `DirectoryStorage`: `commit()` resolves only once the object is completely stored, and an
 * upload that does not complete leaves no object at its key.
 *
 * A file no larger than one part goes up as one PUT when it is committed. A larger one is a
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
    if (!options.bucket || options.bucket.includes('/')) throw new TypeError(`not a bucket name: ${JSON.stringify(options.bucket)}`);
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
    if (!Number.isSafeInteger(this.queueSize) || this.queueSize < 1) throw new RangeError('queueSize must be at least 1');
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
    const folder = this.layout === 'flat' ? this.prefix : [this.prefix, sessionName(this.instanceId, ++this.sessions)].filter((p) => p !== '').join('/');
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
      await this.client.send(new (sdk().AbortMultipartUploadCommand)({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
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
            ? "access denied (HTTP 403): check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and the bucket's policy"
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
        await this.client.send(new (sdk().AbortMultipartUploadCommand)({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId })).then(
          () => aborted++,
          () => undefined,
        );
      }
      if (!page.IsTruncated || (page.NextKeyMarker === undefined && page.NextUploadIdMarker === undefined)) return aborted;
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

/**
 * One object being uploaded. Bytes collect into the current part; a full part is uploaded at
 * once (a multipart upload is created for the first), at most `queueSize` at a time. `commit`
 * sends what is left, as the last part or, if no part was needed, as the whole object in one PUT.
 */
class S3FileSink implements FileSink {
  /** The part being filled. */
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** Bytes in memory (the part being filled and the parts not yet stored) against the high-water mark. */
  private readonly gate: WriteGate;
  private bytes = 0;
  private partNumber = 0;
  /** The multipart upload's id, once it is being created. */
  private uploadId: Promise<string> | undefined;
  private readonly parts: CompletedPart[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private freeSlots: number;
  private slotWaiters: (() => void)[] = [];
  private finished = false;
  private discarded: Promise<void> | undefined;
  private readonly cancel = new AbortController();

  constructor(
    private readonly storage: S3Storage,
    readonly key: string,
    private readonly name: string,
  ) {
    this.freeSlots = storage.queueSize;
    this.gate = new WriteGate(storage.highWaterMark);
  }

  write(data: Buffer): boolean {
    // After a failure: false, so the caller asks `drained()` and learns of it now, not at the end of the file.
    if (this.gate.hasFailed) return false;
    if (this.finished) return true;
    this.chunks.push(data);
    this.chunkBytes += data.length;
    this.gate.add(data.length);
    this.bytes += data.length;
    if (this.chunkBytes >= this.storage.partSize) this.sendPart();
    return this.gate.open;
  }

  drained(): Promise<void> {
    return this.gate.drained();
  }

  async commit(): Promise<StoredFile> {
    this.finished = true;
    const { client, bucket } = this.storage;
    try {
      if (this.gate.hasFailed) throw this.gate.error;
      if (this.partNumber === 0) {
        // Small enough for one request.
        const body = this.takePart();
        await client.send(new (sdk().PutObjectCommand)({ Bucket: bucket, Key: this.key, Body: body, ContentLength: body.length, ContentType: CONTENT_TYPE }));
      } else {
        if (this.chunkBytes > 0) this.sendPart();
        while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
        if (this.gate.hasFailed) throw this.gate.error;
        const uploadId = await this.uploadId!;
        const parts = [...this.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
        await client.send(new (sdk().CompleteMultipartUploadCommand)({ Bucket: bucket, Key: this.key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
        this.uploadId = undefined;
      }
      return { name: this.name, location: this.storage.url(this.key), bytes: this.bytes };
    } catch (err) {
      await this.discard();
      throw this.storeError(err);
    }
  }

  async abort(): Promise<void> {
    this.finished = true;
    await this.discard();
  }

  /** Cancels what is in flight and aborts the multipart upload, if one was started. */
  private discard(): Promise<void> {
    this.discarded ??= (async () => {
      this.chunks = [];
      this.chunkBytes = 0;
      this.cancel.abort();
      while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
      const started = this.uploadId;
      this.uploadId = undefined;
      // The create request is never cancelled, so an upload it made is always known here.
      const uploadId = await started?.catch(() => undefined);
      if (uploadId !== undefined) await this.storage.abortUpload(this.key, uploadId);
    })();
    return this.discarded;
  }

  private takePart(): Buffer {
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.chunkBytes);
    this.chunks = [];
    this.chunkBytes = 0;
    return body;
  }

  private sendPart(): void {
    const number = ++this.partNumber;
    const body = this.takePart();
    if (number > S3_MAX_PARTS) {
      this.fail(
        new S3StorageError(
          `cannot store ${this.storage.url(this.key)}: larger than ${S3_MAX_PARTS} parts of ${this.storage.partSize} bytes, the most one upload can hold`,
        ),
      );
      return;
    }
    const task = this.uploadPart(number, body).then(
      () => this.gate.remove(body.length),
      (err: unknown) => this.fail(err),
    );
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  private async uploadPart(number: number, body: Buffer): Promise<void> {
    await this.acquireSlot();
    try {
      const { client, bucket } = this.storage;
      this.cancel.signal.throwIfAborted();
      const uploadId = await this.startUpload();
      this.cancel.signal.throwIfAborted();
      const out = await client.send(
        new (sdk().UploadPartCommand)({ Bucket: bucket, Key: this.key, UploadId: uploadId, PartNumber: number, Body: body, ContentLength: body.length }),
        { abortSignal: this.cancel.signal },
      );
      if (!out.ETag) throw new S3StorageError(`part ${number} of ${this.storage.url(this.key)} was stored without an ETag`);
      this.parts.push({ PartNumber: number, ETag: out.ETag });
    } finally {
      this.releaseSlot();
    }
  }

  /** Creates the multipart upload, once. Not cancellable: an upload the gateway made must be known, to be aborted. */
  private startUpload(): Promise<string> {
    this.uploadId ??= this.storage.client
      .send(new (sdk().CreateMultipartUploadCommand)({ Bucket: this.storage.bucket, Key: this.key, ContentType: CONTENT_TYPE }))
      .then((out) => {
        if (!out.UploadId) throw new S3StorageError(`no upload id for ${this.storage.url(this.key)}`);
        return out.UploadId;
      });
    return this.uploadId;
  }

  private acquireSlot(): Promise<void> {
    if (this.freeSlots > 0) {
      this.freeSlots--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.slotWaiters.shift();
    if (next) next();
    else this.freeSlots++;
  }

  /** The error `commit` and `drained` reject with: what failed, and on which key. */
  private storeError(err: unknown): S3StorageError {
    if (err instanceof S3StorageError) return err;
    return new S3StorageError(`cannot store ${this.storage.url(this.key)}: ${describeS3Error(err)}`, { cause: err });
  }

  private fail(err: unknown): void {
    if (this.gate.hasFailed) return;
    this.chunks = [];
    this.chunkBytes = 0;
    // The file cannot be completed: stop its other parts now.
    this.cancel.abort();
    this.gate.fail(this.storeError(err));
  }
}
