// `linedrop/storage`: where the server puts received files: the `Storage` interface to write your
// own, a folder (`DirectoryStorage`) and an S3 bucket (`S3Storage`; the AWS SDK loads only when used).
export { LinedropError } from '../errors.js';
export { DirectoryStorage, type DirectoryStorageOptions } from './directory.js';
export { openStorage, type StorageChoice } from './open.js';
export { createS3Client, parseS3Url, S3StorageError, type S3StorageOptions } from './s3-client.js';
export { S3Storage } from './s3.js';
export type { ConnectionInfo, ConnectionStore, FileSink, Layout, Storage, StoredFile } from './types.js';
