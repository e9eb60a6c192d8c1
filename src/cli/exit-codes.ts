// The exit statuses of every linedrop command (the README's table lists them).
/** Exit statuses of every linedrop command. */
export enum ExitCode {
  /** Everything asked for was done: every file accepted, the server ended cleanly. */
  Ok = 0,
  /**
   * Some file was not accepted (rejected, an unexpected status, not sent after a rejection, or unreadable when its turn
   * came).
   */
  SomeRejected = 1,
  /** Bad command line or input: nothing was sent. */
  Usage = 2,
  /** Could not connect (refused, unreachable, or no answer within the connect timeout). */
  CannotConnect = 3,
  /** The connection was lost, or the server went silent for longer than the timeout. */
  ConnectionLost = 4,
  /** Interrupted (Ctrl-C): 128 + SIGINT, as shells report it. */
  Interrupted = 130,
}
