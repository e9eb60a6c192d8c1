// The lab's interactive client: the template's prompts, word for word, over one connection.
import type { Writable } from 'node:stream';
import { LinedropClient } from '../../client/client.js';
import { ClientError } from '../../client/errors.js';
import type { ConnectOptions } from '../../client/options.js';
import { MAX_WIRE_COUNT } from '../../protocol/limits.js';
import { describeStatus } from '../../protocol/status.js';
import { ExitCode } from '../exit-codes.js';
import type { LineInput } from '../line-input.js';

/** The lab template's prompts, word for word. */
export const PROMPT_COUNT = 'Enter the number of lines you want to send (0 to exit):';
export const TEXT_ENTER_LINES = 'Now enter all the lines of your message';
export const TEXT_AWAITING = 'Done sending. Awaiting reply.';

export interface InteractiveOptions {
  host: string;
  port: number;
  tls?: ConnectOptions['tls'];
  /** As `ConnectOptions`: the wait for a connection, and for a silent server (not for the person typing). */
  connectTimeoutMs?: number;
  timeoutMs?: number;
  input: LineInput;
  out: Writable;
  err: Writable;
}

/**
 * The lab's `tcp_send`, for people and for scripts that drive it through standard input: ask how
 * many lines, send the count, send each line as it is entered, report the status byte, repeat;
 * 0 sends the zero-line message and waits for `Q`.
 */
export async function interactiveSend(options: InteractiveOptions): Promise<ExitCode> {
  const { input, out, err } = options;
  let client: LinedropClient;
  try {
    client = await LinedropClient.connect({
      host: options.host,
      port: options.port,
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
  } catch (e) {
    err.write(`linedrop: ${(e as Error).message}\n`);
    return ExitCode.CannotConnect;
  }
  let allAccepted = true;
  try {
    for (;;) {
      out.write(PROMPT_COUNT);
      const answer = await input.next();
      const count = answer === null ? 0 : parseCount(answer.toString('utf8'));
      if (count === undefined) {
        out.write(`\nPlease enter a whole number from 0 to ${MAX_WIRE_COUNT}.\n`);
        continue;
      }
      if (answer === null) out.write('\n');
      if (count === 0) break;
      out.write(`${TEXT_ENTER_LINES}\n`);
      const status = await client.sendLineStream(count, input.lines(count), {
        onSent: () => out.write(`${TEXT_AWAITING}\n`),
      });
      out.write(`${describeStatus(status)}\n`);
      if (status !== 'A') {
        allAccepted = false;
        if (status === 'R') {
          out.write('The server closes the connection after a rejected file.\n');
          await client.whenClosed();
          return ExitCode.SomeRejected;
        }
      }
    }
    const status = await client.quit();
    out.write(`${describeStatus(status)}\n`);
    await client.whenClosed();
    return allAccepted && status === 'Q' ? ExitCode.Ok : ExitCode.SomeRejected;
  } catch (e) {
    client.destroy();
    err.write(`linedrop: ${(e as Error).message}\n`);
    return e instanceof ClientError &&
      (e.code === 'LINEDROP_ERR_CONNECTION_CLOSED' || e.code === 'LINEDROP_ERR_TIMEOUT')
      ? ExitCode.ConnectionLost
      : ExitCode.SomeRejected;
  }
}

/** A line count as a person types it: digits, surrounding blanks allowed. */
export function parseCount(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return value <= MAX_WIRE_COUNT ? value : undefined;
}
