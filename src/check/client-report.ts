// The client checker's results: what `ClientChecker` reports for each connection (the bytes a
// client sent, as messages and lines with their offsets, and its deviations from the protocol),
// and the options it takes. Reporters read these types only, never the session that fills them.

/**
 * What a client can do wrong on the wire:
 * - `count-mismatch`: the count announced more lines than arrived before the client went quiet or closed;
 * - `missing-newline`: the last line of a message came without its `\n`;
 * - `partial-count`: fewer than the 4 bytes of a count, then quiet or closed;
 * - `implausible-count`: a count of 16,777,216 lines or more (typically text read as a count,
 *   after a message with more lines than its count said); the checker closes the connection;
 * - `bytes-after-quit`: anything sent after the zero-line message;
 * - `no-quit`: the connection closed between messages without the zero-line message;
 * - `protocol-error`: anything else the decoder refused.
 */
export type DeviationKind =
  | 'count-mismatch'
  | 'missing-newline'
  | 'partial-count'
  | 'implausible-count'
  | 'bytes-after-quit'
  | 'no-quit'
  | 'protocol-error';

export interface Deviation {
  kind: DeviationKind;
  /** Byte offset in the client's stream where the deviation starts. */
  offset: number;
  message: string;
}

/**
 * One read from the socket: where it starts in the stream, how long it is, when it came (ms after the connection
 * opened).
 */
export interface ChunkRecord {
  offset: number;
  length: number;
  ms: number;
}

export interface LineRecord {
  offset: number;
  /** Bytes of the line with its `\n`. */
  length: number;
  /** The line without its `\n`, as UTF-8 (cut after 200 characters). */
  text: string;
}

export interface MessageRecord {
  /** 1, 2, ... in the connection (the file number). */
  index: number;
  /** Offset of the count's first byte. */
  offset: number;
  count: number;
  countHex: string;
  /** The lines that arrived (at most the first 1000 are listed). */
  lines: LineRecord[];
  linesReceived: number;
  /** Body bytes received, every `\n` included. */
  bytes: number;
  complete: boolean;
  /** The file saved for it, when a folder was given. */
  file?: string;
  /** What the checker answered: A for a complete message. */
  status?: 'A';
}

export interface ClientConnectionReport {
  connection: number;
  remote: string;
  startedAt: string;
  ms: number;
  /** Bytes received in all. */
  bytes: number;
  chunks: ChunkRecord[];
  /** Reads not listed (only the first 1000 are). */
  chunksOmitted: number;
  messages: MessageRecord[];
  /** The zero-line message, if it came. */
  quit: { offset: number; status: 'Q' } | null;
  bytesAfterQuit: number;
  /**
   * Who ended the connection: the client, the checker (after Q and a grace period, or after a deviation), or an error.
   */
  closedBy: 'client' | 'checker' | 'error';
  end: string;
  deviations: Deviation[];
  /** Problems of the checker itself (a file it could not save); not the client's fault. */
  notes: string[];
  ok: boolean;
}

export interface ClientCheckerOptions {
  /** Folder to save each message in, as k.txt (later connections overwrite, as the lab server does). */
  dir?: string;
  /**
   * Silence in the middle of a message (or a count) that counts as the client having stopped, at a program's pace
   * (default 2000 ms).
   */
  quietMs?: number;
  /**
   * Silence allowed in a message whose lines come at a person's pace (typed by hand into the
   * template client: a pause of 400 ms or more before one of its lines), or that has no byte
   * after its count yet (default 300000 ms: 5 min).
   */
  typingMs?: number;
  /** After answering Q: how long to keep reading for stray bytes before closing (default 500 ms). */
  graceMs?: number;
}
