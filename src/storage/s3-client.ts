// The S3 settings and client: S3StorageOptions and its limits, `s3://` locations, the client
// S3Storage makes, one-line descriptions of S3 errors (S3StorageError), and the AWS SDK, loaded
// only when object storage is used.
import { LinedropError } from '../errors.js';
import { createRequire } from 'node:module';
import type * as S3Sdk from '@aws-sdk/client-s3';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type { Layout } from './types.js';

/** The AWS SDK, loaded on first use: a program that keeps files on disk never pays its start-up. */
let sdkModule: typeof S3Sdk | undefined;
export function sdk(): typeof S3Sdk {
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

export interface S3StorageOptions {
  bucket: string;
  /** Key prefix, `uploads` or `uploads/` (default: none, keys at the bucket's top). */
  prefix?: string;
  /** `flat` (default): `PREFIX/k.txt`, later connections overwrite. `session`: `PREFIX/SESSION/k.txt`. */
  layout?: Layout;
  /** Names this server in session names, so servers sharing a prefix never collide (default: random). */
  instanceId?: string;
  /**
   * A client of your own; `endpoint`, `region`, `forcePathStyle`, `credentials`, `maxAttempts` and `socketTimeoutMs`
   * are then ignored.
   */
  client?: S3Client;
  /** Endpoint of an S3-compatible gateway (`http://127.0.0.1:7480`); default: AWS. */
  endpoint?: string;
  /** Default: the SDK's (`AWS_REGION`, the profile); `us-east-1` with a non-AWS endpoint when neither names one. */
  region?: string;
  /** Bucket in the path (`endpoint/BUCKET/key`). Default: on for a non-AWS endpoint, off for AWS. */
  forcePathStyle?: boolean;
  /**
   * Default: the SDK's chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, shared files, SSO, instance
   * roles).
   */
  credentials?: S3ClientConfig['credentials'];
  /** Tries per request, the first included (default: the SDK's, 3, or `AWS_MAX_ATTEMPTS`). */
  maxAttempts?: number;
  /** A request whose socket is silent this long fails (default 30 s). */
  socketTimeoutMs?: number;
  /** Bytes per part of a multipart upload (default 8 MiB, at least 5 MiB). A smaller file is stored with one PUT. */
  partSize?: number;
  /** Parts of one file uploaded at once (default 4). */
  queueSize?: number;
  /**
   * Bytes one file may hold in memory before `write` asks the server to wait (default `(queueSize + 1) * partSize`; at
   * least `partSize`).
   */
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
export function normalizePrefix(prefix: string): string {
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
  options: Pick<
    S3StorageOptions,
    'endpoint' | 'region' | 'forcePathStyle' | 'credentials' | 'maxAttempts' | 'socketTimeoutMs'
  >,
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
export class S3StorageError extends LinedropError<'LINEDROP_ERR_S3'> {
  override name = 'S3StorageError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('LINEDROP_ERR_S3', message, options);
  }
}
