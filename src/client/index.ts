// `linedrop/client`: one connection to a lab server (`LinedropClient`), its options and errors,
// and a file's shape measured before it is sent. Loads no package outside Node.js.
export { LinedropError } from '../errors.js';
export { DEFAULT_HOST, DEFAULT_PORT } from '../net-address.js';
export type { Line } from '../protocol/encoder.js';
export type { Status } from '../protocol/status.js';
export { LinedropClient } from './client.js';
export { ClientError, type ClientErrorCode } from './errors.js';
export { measureFile, shapeOf, type FileShape } from './measure.js';
export {
  DEFAULT_CLIENT_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_IN_FLIGHT,
  type ClientTlsOptions,
  type ConnectOptions,
  type SendOptions,
} from './options.js';
