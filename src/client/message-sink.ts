// The connection as a message streamed onto it sees it (a file from disk, or lines from the caller).

export const NEWLINE = Buffer.from([0x0a]);

/** The connection a streamed message goes onto. */
export interface MessageSink {
  /**
   * Writes after what was written before; `flushed` is called once the socket has handed `data` to
   * the system (then `data` may be reused), not if the connection failed first.
   */
  write(data: Uint8Array, flushed?: () => void): Promise<void>;
  /** Part of the message may be out: the connection cannot carry another one. Closes it, with `err` when given. */
  abort(err?: Error): void;
  /** Set while the stream waits for its caller (the next line), not for the server: that is not the server's silence. */
  waitingForCaller(waiting: boolean): void;
}
