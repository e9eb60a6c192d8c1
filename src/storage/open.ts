// `openStorage`: the storage the options choose (a folder, a bucket, or one of your own).
import { DirectoryStorage } from './directory.js';
import { S3Storage } from './s3.js';
import type { S3StorageOptions } from './s3-client.js';
import { DEFAULT_DIR, DEFAULT_LAYOUT, type Layout, type Storage } from './types.js';

/** Where uploads go: a storage of your own, a bucket, or a folder (the default, `./received`). */
export interface StorageChoice {
  /** Folder for uploads (default `./received`); not with `storage` or `s3`. */
  dir?: string;
  /** `flat` (default): `k.txt` per connection, later connections overwrite. `session`: a sub-folder per connection. */
  layout?: Layout;
  /**
   * Names this server in session folder names (default: random), so servers sharing a folder never collide; not with
   * `storage`.
   */
  instanceId?: string;
  /** Keep uploads in this S3 bucket and prefix instead of a folder; `layout` and `instanceId` apply. */
  s3?: Omit<S3StorageOptions, 'layout' | 'instanceId'>;
  /** A storage of your own (object storage, a test double); not with `dir`, `s3`, `layout` or `instanceId`. */
  storage?: Storage;
}

/** The storage the options choose (not yet initialised: call `init()`, as the server's `listen` does). */
export function openStorage(options: StorageChoice): Storage {
  if (options.storage) return options.storage;
  const layout = options.layout ?? DEFAULT_LAYOUT;
  const instance = options.instanceId !== undefined ? { instanceId: options.instanceId } : {};
  if (options.s3) return new S3Storage({ ...options.s3, layout, ...instance });
  return new DirectoryStorage({ dir: options.dir ?? DEFAULT_DIR, layout, ...instance });
}
