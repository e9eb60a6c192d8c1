// The status bytes a server answers with: A (accepted), Q (quitting), R (rejected).
/** The one-byte answers a server sends after each message. */
export const STATUS_ACCEPTED = 0x41; // 'A': the file is stored
export const STATUS_QUIT = 0x51; // 'Q': zero-line message; the server closes the connection
export const STATUS_REJECTED = 0x52; // 'R': refused (malformed, over a limit, or not stored)

/** A status as a one-character string: 'A', 'Q', 'R', or whatever other byte a server sent. */
export type Status = 'A' | 'Q' | 'R' | (string & {});

export function statusFromByte(byte: number): Status {
  return String.fromCharCode(byte);
}

/** What a status means, in the words the lab's client prints. */
export function describeStatus(status: Status): string {
  switch (status) {
    case 'A':
      return 'File accepted.';
    case 'Q':
      return 'Server closing connection, as expected.';
    case 'R':
      return 'File rejected by the server.';
    default:
      return `Unexpected response: ${JSON.stringify(status)}`;
  }
}
