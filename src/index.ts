/**
 * linedrop as a library: the protocol (decoder, encoder, limits, errors), a server you can start
 * and stop, a client connection, and the storage interface the server writes through.
 */
export * from './protocol/index.js';
export { LinedropServer, startServer, type ConnectionSummary, type LinedropServerEvents, type RefusedEvent } from './server/server.js';
export { DEFAULT_PORT, DEFAULT_HOST } from './net-address.js';
export {
  type ServerOptions,
  type TlsOptions,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_SHUTDOWN_DEADLINE_MS,
  DEFAULT_SERVER_MAX_IN_FLIGHT,
} from './server/options.js';
export { ConnectionError, type FileEvent, type CloseReason } from './server/connection.js';
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
export { LinedropClient } from './client/client.js';
export { ClientError, type ClientErrorCode } from './client/errors.js';
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_MAX_IN_FLIGHT,
  type ConnectOptions,
  type ClientTlsOptions,
  type SendOptions,
} from './client/options.js';
export { measureFile, shapeOf, checkShape, LineTally, type FileShape } from './client/measure.js';
export * from './storage/index.js';
export * from './check/index.js';
export * from './check/grade/index.js';
