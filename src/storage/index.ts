export * from './types.js';
export { DirectoryStorage, type DirectoryStorageOptions, isTempName, TEMP_PREFIX, TEMP_SUFFIX } from './directory.js';
