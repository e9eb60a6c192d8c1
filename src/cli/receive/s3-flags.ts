// The `receive` flags that choose object storage (`--store s3://...`), checked and turned into S3 options.
import { parseS3Url, type S3StorageOptions } from '../../storage/s3-client.js';

/** The `receive` flags that choose object storage. */
export interface S3Flags {
  store?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3VirtualHosted?: boolean;
}

const FLAG_NAMES = {
  s3Endpoint: '--s3-endpoint',
  s3Region: '--s3-region',
  s3VirtualHosted: '--s3-virtual-hosted',
} as const;

/** Where `receive --store` puts files: everything of `S3StorageOptions` the command line decides but the layout. */
export type S3Target = Pick<S3StorageOptions, 'bucket' | 'prefix' | 'endpoint' | 'region' | 'forcePathStyle'>;

/**
 * The S3 target the flags name, or undefined without `--store`. `given(flag)` tells whether a
 * flag was typed on the command line (an environment variable alone is not a mistake).
 * @throws Error for a malformed `--store`, or an `--s3-*` flag typed without `--store`.
 */
export function s3Target(flags: S3Flags, given: (flag: keyof S3Flags) => boolean): S3Target | undefined {
  if (flags.store === undefined) {
    const stray = (['s3Endpoint', 's3Region', 's3VirtualHosted'] as const).filter(given);
    if (stray.length > 0) {
      const names = stray.map((flag) => FLAG_NAMES[flag]);
      throw new Error(`${names.join(', ')} need${stray.length === 1 ? 's' : ''} --store s3://BUCKET/PREFIX`);
    }
    return undefined;
  }
  const { bucket, prefix } = parseS3Url(flags.store);
  if (flags.s3Endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(flags.s3Endpoint);
    } catch {
      throw new Error(
        `--s3-endpoint must be a URL such as http://127.0.0.1:7480, not ${JSON.stringify(flags.s3Endpoint)}`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new Error(`--s3-endpoint must be an http:// or https:// URL, not ${JSON.stringify(flags.s3Endpoint)}`);
  }
  return {
    bucket,
    prefix,
    ...(flags.s3Endpoint !== undefined ? { endpoint: flags.s3Endpoint } : {}),
    ...(flags.s3Region !== undefined ? { region: flags.s3Region } : {}),
    ...(flags.s3VirtualHosted ? { forcePathStyle: false } : {}),
  };
}
