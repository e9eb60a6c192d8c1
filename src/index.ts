// `linedrop`: what a program that sends files or receives them needs: the client, the server and
// its storage, and the errors. The rest is in its own entry point: `linedrop/protocol` (the wire
// format), `linedrop/client`, `linedrop/server`, `linedrop/storage`, `linedrop/check` (checkers,
// grading, reporters). Every name here is exported from the file that defines it.
export { LinedropError } from './errors.js';
export { DEFAULT_HOST, DEFAULT_PORT } from './net-address.js';
export type { Line } from './protocol/encoder.js';
export { ProtocolError, type ProtocolErrorCode } from './protocol/errors.js';
export type { Limits } from './protocol/limits.js';
export type { Status } from './protocol/status.js';
export { LinedropClient } from './client/client.js';
export { ClientError, type ClientErrorCode } from './client/errors.js';
export { measureFile, type FileShape } from './client/measure.js';
export {
  DEFAULT_CLIENT_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_IN_FLIGHT,
  type ClientTlsOptions,
  type ConnectOptions,
  type SendOptions,
} from './client/options.js';
export { ConnectionError, type CloseReason, type FileEvent } from './server/connection.js';
export type { Logger } from './server/logger.js';
export type { RefusalReason } from './server/admission.js';
export {
  LinedropMetrics,
  MetricsServer,
  startMetricsServer,
  type MetricsOptions,
  type MetricsServerOptions,
} from './server/metrics.js';
export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_SERVER_MAX_IN_FLIGHT,
  DEFAULT_SHUTDOWN_DEADLINE_MS,
  type ServerOptions,
  type TlsOptions,
} from './server/options.js';
export { ProxyProtocolError } from './server/proxy-protocol.js';
export {
  LinedropServer,
  startServer,
  type ConnectionSummary,
  type LinedropServerEvents,
  type RefusedEvent,
} from './server/server.js';
export { DirectoryStorage, type DirectoryStorageOptions } from './storage/directory.js';
export type { StorageChoice } from './storage/open.js';
export { S3StorageError, type S3StorageOptions } from './storage/s3-client.js';
export { S3Storage } from './storage/s3.js';
export type { ConnectionInfo, ConnectionStore, FileSink, Layout, Storage, StoredFile } from './storage/types.js';
