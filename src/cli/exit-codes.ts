/** Exit statuses of every linedrop command. */
export enum ExitCode {
  /** Everything asked for was done: every file accepted, the server ended cleanly. */
  Ok = 0,
  /** Some file was not accepted (rejected, an unexpected status, or not sent after a rejection). */
  SomeRejected = 1,
  /** Bad command line or input: nothing was sent. */
  Usage = 2,
  /** Could not connect, or the connection was lost. */
  CannotConnect = 3,
  ConnectionLost = 4,
}
