// What the peer sent that breaks the wire format: `ProtocolError` and its codes. A caller's own
// mistake (a line holding a newline, a count the wire cannot carry) is a `TypeError` or a
// `RangeError` instead, as Node.js does.
import { LinedropError } from '../errors.js';

/**
 * Stable codes of everything that can be wrong with a stream or a message received. Programs
 * match on `code`, never on the message text.
 */
export type ProtocolErrorCode =
  /** The count announces more lines than `maxLines`. */
  | 'LINEDROP_ERR_TOO_MANY_LINES'
  /** A line grew past `maxLineBytes` before its `\n` arrived. */
  | 'LINEDROP_ERR_LINE_TOO_LONG'
  /** A message body grew past `maxMessageBytes`. */
  | 'LINEDROP_ERR_MESSAGE_TOO_LARGE'
  /** The stream ended in the middle of a count or a message. */
  | 'LINEDROP_ERR_TRUNCATED';

/** A stream or a message that breaks the wire format or a limit: the peer's fault, never the caller's. */
export class ProtocolError extends LinedropError<ProtocolErrorCode> {
  override name = 'ProtocolError';
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError;
}
