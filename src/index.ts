/**
 * linedrop as a library: the protocol (decoder, encoder, limits, errors), a server you can start
 * and stop, a client connection, and the storage interface the server writes through.
 */
export * from './protocol/index.js';
export {
  LinedropServer,
  startServer,
  DEFAULT_PORT,
  type ServerOptions,
  type FileEvent,
  type ConnectionSummary,
  type CloseReason,
  type LinedropServerEvents,
  type RefusedEvent,
  type TlsOptions,
  ConnectionError,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_SHUTDOWN_DEADLINE_MS,
  DEFAULT_SERVER_MAX_IN_FLIGHT,
} from './server/server.js';
export { AllowList, normalizeAddress } from './server/access.js';
export { parseProxyHeader, proxyHeaderV1, proxyHeaderV2, ProxyProtocolError, type ProxyHeader } from './server/proxy-protocol.js';
export type { Logger } from './server/logger.js';
export {
  createMetrics,
  startMetricsServer,
  parseListenAddress,
  LinedropMetrics,
  MetricsServer,
  DEFAULT_METRICS_IDLE_TIMEOUT_MS,
  DEFAULT_METRICS_MAX_CONNECTIONS,
  type MetricsOptions,
  type MetricsServerOptions,
} from './server/metrics.js';
export {
  LinedropClient,
  ClientError,
  DEFAULT_HOST,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_MAX_IN_FLIGHT,
  type ClientErrorCode,
  type ConnectOptions,
  type ClientTlsOptions,
  type SendOptions,
} from './client/client.js';
export { measureFile, shapeOf, checkShape, LineTally, type FileShape } from './client/measure.js';
export * from './storage/index.js';
export * from './check/index.js';
export * from './check/grade/index.js';
