/**
 * Stable codes of everything that can be wrong with a stream or a message. Programs match on
 * `code`, never on the message text.
 */
export type ProtocolErrorCode =
  /** The count announces more lines than `maxLines`. */
  | 'ERR_TOO_MANY_LINES'
  /** A line grew past `maxLineBytes` before its `\n` arrived. */
  | 'ERR_LINE_TOO_LONG'
  /** A message body grew past `maxMessageBytes`. */
  | 'ERR_MESSAGE_TOO_LARGE'
  /** The stream ended in the middle of a count or a message. */
  | 'ERR_TRUNCATED'
  /** Encoder: a line holds a `\n`, which would end it early on the wire. */
  | 'ERR_INVALID_LINE'
  /** Encoder: a count outside 0 .. 2^32-1. */
  | 'ERR_COUNT_OUT_OF_RANGE'
  /** Client: a file with no lines cannot be sent; zero lines means "quit" on this wire. */
  | 'ERR_EMPTY_FILE';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError;
}
