// `linedrop/protocol`: the wire format alone (no socket, no file, no package outside Node.js):
// the incremental decoder, the encoder, the limits, the status bytes and the errors.
export { LinedropError } from '../errors.js';
export {
  Decoder,
  type DataEvent,
  type DecoderEvent,
  type EndEvent,
  type ErrorEvent,
  type StartEvent,
} from './decoder.js';
export { encodeCount, encodeMessage, QUIT_MESSAGE, type Line } from './encoder.js';
export { isProtocolError, ProtocolError, type ProtocolErrorCode } from './errors.js';
export { DEFAULT_LIMITS, MAX_WIRE_COUNT, resolveLimits, type Limits } from './limits.js';
export { decodeAll, MessageReader, splitLines, type Message } from './messages.js';
export {
  describeStatus,
  STATUS_ACCEPTED,
  STATUS_QUIT,
  STATUS_REJECTED,
  statusFromByte,
  type Status,
} from './status.js';
