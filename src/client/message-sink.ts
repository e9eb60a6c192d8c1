// The connection as a message streamed onto it sees it (a file from disk, or lines from the caller).

export const NEWLINE = Buffer.from([0x0a]);

/** The connection a streamed message goes onto. */
export interface MessageSink {
  /**
   * Writes after what was written before (several buffers in order, when given an array); `flushed`
   * is called once the socket has handed `data` to the system (then `data` may be reused), not if
   * the connection failed first. The first write of a message puts it in the window of messages
   * awaiting answers: a stream that fails before it has sent nothing. One that fails after it, before
   * its last byte, has its connection closed for it by the client.
   */
  write(data: Uint8Array | readonly Uint8Array[], flushed?: () => void): Promise<void>;
  /** Set while the stream waits for its caller (the next line), not for the server: that is not the server's silence. */
  waitingForCaller(waiting: boolean): void;
}
