// One file stored in S3 (`S3FileSink`): a single PUT when it fits in one part, else a multipart
// upload whose parts go up as they fill, a few at a time, with back-pressure; completed on commit,
// and on abort or failure cancelled and aborted so that no parts are left behind.
import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import { WriteGate } from './gate.js';
import { describeS3Error, S3_MAX_PARTS, S3StorageError, sdk } from './s3-client.js';
import type { FileSink, StoredFile } from './types.js';

const CONTENT_TYPE = 'text/plain';

/** What one upload needs of its storage (an `S3Storage`). */
export interface UploadTarget {
  readonly client: S3Client;
  readonly bucket: string;
  /** Bytes per part, at least `S3_MIN_PART_SIZE`. */
  readonly partSize: number;
  /** Parts of one file uploaded at once. */
  readonly queueSize: number;
  /** Bytes one file may hold in memory before `write` returns false. */
  readonly highWaterMark: number;
  /** The `s3://` address of a key. */
  url(key: string): string;
  /** Aborts a multipart upload; never rejects (one that cannot be aborted now is tried again later). */
  abortUpload(key: string, uploadId: string): Promise<void>;
}

/**
 * One object being uploaded. Bytes collect into the current part; a full part is uploaded at
 * once (a multipart upload is created for the first), at most `queueSize` at a time. `commit`
 * sends what is left, as the last part or, if no part was needed, as the whole object in one PUT.
 */
export class S3FileSink implements FileSink {
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
    private readonly storage: UploadTarget,
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
        await client.send(
          new (sdk().PutObjectCommand)({
            Bucket: bucket,
            Key: this.key,
            Body: body,
            ContentLength: body.length,
            ContentType: CONTENT_TYPE,
          }),
        );
      } else {
        if (this.chunkBytes > 0) this.sendPart();
        while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
        if (this.gate.hasFailed) throw this.gate.error;
        const uploadId = await this.uploadId!;
        const parts = [...this.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
        await client.send(
          new (sdk().CompleteMultipartUploadCommand)({
            Bucket: bucket,
            Key: this.key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        );
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
          `cannot store ${this.storage.url(this.key)}: larger than ${S3_MAX_PARTS} parts of ` +
            `${this.storage.partSize} bytes, the most one upload can hold`,
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
        new (sdk().UploadPartCommand)({
          Bucket: bucket,
          Key: this.key,
          UploadId: uploadId,
          PartNumber: number,
          Body: body,
          ContentLength: body.length,
        }),
        { abortSignal: this.cancel.signal },
      );
      if (!out.ETag)
        throw new S3StorageError(`part ${number} of ${this.storage.url(this.key)} was stored without an ETag`);
      this.parts.push({ PartNumber: number, ETag: out.ETag });
    } finally {
      this.releaseSlot();
    }
  }

  /** Creates the multipart upload, once. Not cancellable: an upload the gateway made must be known, to be aborted. */
  private startUpload(): Promise<string> {
    this.uploadId ??= this.storage.client
      .send(
        new (sdk().CreateMultipartUploadCommand)({
          Bucket: this.storage.bucket,
          Key: this.key,
          ContentType: CONTENT_TYPE,
        }),
      )
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
