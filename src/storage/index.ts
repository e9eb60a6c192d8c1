export * from './types.js';
export { DirectoryStorage, type DirectoryStorageOptions } from './directory.js';
export { isTempName, TEMP_PREFIX, TEMP_SUFFIX } from './file-sink.js';
export { S3Storage } from './s3.js';
export { type S3StorageOptions, S3StorageError, parseS3Url, createS3Client } from './s3-client.js';
export { EarlierFileError } from './order.js';
export { openStorage, type StorageChoice } from './open.js';
