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
} from './server/server.js';
export type { Logger } from './server/logger.js';
export {
  LinedropClient,
  ClientError,
  DEFAULT_HOST,
  measureFile,
  shapeOf,
  type ClientErrorCode,
  type ConnectOptions,
  type SendOptions,
  type FileShape,
} from './client/client.js';
export * from './storage/index.js';
