// `linedrop/server`: the server (`LinedropServer`, `startServer`), its options, events and errors,
// the PROXY protocol, `--allow` lists and the Prometheus metrics (prom-client loads only when
// metrics are made).
export { LinedropError } from '../errors.js';
export { DEFAULT_PORT } from '../net-address.js';
export type { Limits } from '../protocol/limits.js';
export type { StorageChoice } from '../storage/open.js';
export type { S3StorageOptions } from '../storage/s3-client.js';
export type { ConnectionInfo, ConnectionStore, FileSink, Layout, Storage, StoredFile } from '../storage/types.js';
export { AllowList, normalizeAddress } from './access.js';
export type { RefusalReason } from './admission.js';
export { ConnectionError, type CloseReason, type FileEvent } from './connection.js';
export type { Logger } from './logger.js';
export {
  createMetrics,
  DEFAULT_METRICS_IDLE_TIMEOUT_MS,
  DEFAULT_METRICS_MAX_CONNECTIONS,
  LinedropMetrics,
  MetricsServer,
  startMetricsServer,
  type MetricsOptions,
  type MetricsServerOptions,
} from './metrics.js';
export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_SERVER_MAX_IN_FLIGHT,
  DEFAULT_SHUTDOWN_DEADLINE_MS,
  type ServerOptions,
  type TlsOptions,
} from './options.js';
export {
  parseProxyHeader,
  ProxyProtocolError,
  proxyHeaderV1,
  proxyHeaderV2,
  type ProxyHeader,
  type ProxyParse,
} from './proxy-protocol.js';
export {
  LinedropServer,
  startServer,
  type ConnectionSummary,
  type LinedropServerEvents,
  type RefusedEvent,
} from './server.js';
