// A message whose lines come one by one from the caller (as a person types them): each line goes
// out as soon as it arrives, and a source that runs out or gives a line with a newline ends the connection.
import type { Line } from '../protocol/encoder.js';
import { invalidArgument } from '../errors.js';
import { LF } from '../protocol/line-scanner.js';
import { ClientError } from './errors.js';
import { NEWLINE, type MessageSink } from './measure.js';
import type { SendOptions } from './options.js';

/**
 * Sends `count` lines from `source` after a count already written; `done` is called once the last
 * one is handed to the socket.
 * @throws TypeError `LINEDROP_ERR_INVALID_LINE`; ClientError `LINEDROP_ERR_FILE_CHANGED` if `source` ends before
 * `count` lines (the count is out, so the client closes the connection either way).
 */
export async function streamLines(
  count: number,
  source: AsyncIterable<Line>,
  sink: MessageSink,
  options: SendOptions,
  done: () => void,
): Promise<void> {
  let sent = 0;
  const lines = source[Symbol.asyncIterator]();
  for (;;) {
    // Waiting for the caller's next line is not the server's silence.
    sink.waitingForCaller(true);
    let next: IteratorResult<Line>;
    try {
      next = await lines.next();
    } finally {
      sink.waitingForCaller(false);
    }
    if (next.done) break;
    const line = next.value;
    if (typeof line === 'string' ? line.includes('\n') : line.includes(LF)) {
      throw invalidArgument(
        `line ${sent + 1} contains a newline; a line cannot hold "\\n"`,
        'LINEDROP_ERR_INVALID_LINE',
      );
    }
    await sink.write(typeof line === 'string' ? Buffer.from(`${line}\n`) : Buffer.concat([line, NEWLINE]));
    if (++sent === count) {
      done();
      options.onSent?.();
      return;
    }
  }
  throw new ClientError(
    'LINEDROP_ERR_FILE_CHANGED',
    `the lines ran out after ${sent} of ${count}; the message cannot be completed`,
  );
}
