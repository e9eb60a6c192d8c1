// The client's failures: `ClientError` and its codes, and how their messages show the bytes they quote.
import { LinedropError } from '../errors.js';

export type ClientErrorCode =
  | 'LINEDROP_ERR_CONNECTION_CLOSED'
  | 'LINEDROP_ERR_CONNECT'
  | 'LINEDROP_ERR_CONNECT_TIMEOUT'
  | 'LINEDROP_ERR_TIMEOUT'
  | 'LINEDROP_ERR_UNSOLICITED'
  | 'LINEDROP_ERR_NOT_ACCEPTED'
  | 'LINEDROP_ERR_FILE_CHANGED'
  | 'LINEDROP_ERR_FILE_UNREADABLE'
  | 'LINEDROP_ERR_EMPTY_FILE'
  | 'LINEDROP_ERR_FILE_TOO_LONG';

/**
 * A failure of the connection, of the server's side of the protocol, or of a local file, as
 * opposed to a status the server sent:
 * - `LINEDROP_ERR_CONNECT`, `LINEDROP_ERR_CONNECT_TIMEOUT`: no connection was made (refused, unreachable, no answer in
 *   time);
 * - `LINEDROP_ERR_CONNECTION_CLOSED`: the connection broke or the server closed it before this message's status;
 * - `LINEDROP_ERR_TIMEOUT`: the server neither read nor answered for `timeoutMs`; the client closed the connection;
 * - `LINEDROP_ERR_UNSOLICITED`: the server sent bytes no message asked for (or `A` for a message not yet
 *   complete); the client closed the connection;
 * - `LINEDROP_ERR_NOT_ACCEPTED`: an earlier message of this connection was answered `R` (or something other
 *   than `A`), so the server ends the connection and this message is not stored;
 * - `LINEDROP_ERR_FILE_CHANGED`: the file no longer matched its count (or the lines given ran out);
 * - `LINEDROP_ERR_FILE_UNREADABLE`: the file could not be opened or read (its path and the system's reason in
 *   the message, the system's error as `cause`);
 * - `LINEDROP_ERR_EMPTY_FILE`: the file has no lines (zero lines means "quit" on this wire), nothing was sent;
 * - `LINEDROP_ERR_FILE_TOO_LONG`: the file has more lines than a count carries (2^32-1), nothing was sent.
 *
 * A message that fails on the client's side before its first byte is out leaves the connection
 * usable (the message says "nothing of it was sent"); one that fails after part of it is out
 * closes the connection, and the messages still waiting fail with `LINEDROP_ERR_CONNECTION_CLOSED`.
 */
export class ClientError extends LinedropError<ClientErrorCode> {
  override name = 'ClientError';
}

/** `"A\n" (41 0a)`, and how many more bytes came with it. */
export function quote(bytes: Buffer, total: number): string {
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const more = total > bytes.length ? ` and ${total - bytes.length} more bytes` : '';
  return `${JSON.stringify(bytes.toString('latin1'))} (${hex})${more}`;
}
