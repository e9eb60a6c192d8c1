// The lab program's menu: which operation to run, asked in the template's words.
import type { Writable } from 'node:stream';
import { DEFAULT_HOST, DEFAULT_PORT } from '../net-address.js';
import type { CliContext } from './context.js';
import { ExitCode } from './exit-codes.js';
import { wholeNumber } from './flags.js';
import type { LineInput } from './line-input.js';
import { DEFAULT_DIR } from './receive/receive-command.js';

/** The lab template's menu prompt, word for word. */
export const MENU_PROMPT = 'Select "(1-TS) tcpsend", or "(2-TR) tcpreceive":';

const CHOICES: Record<string, 'send' | 'receive'> = {
  '1': 'send',
  ts: 'send',
  tcpsend: 'send',
  '2': 'receive',
  tr: 'receive',
  tcpreceive: 'receive',
};

/** Asks which operation to run until the answer is one the template accepts; null at the end of input. */
export async function askOperation(input: LineInput, out: Writable): Promise<'send' | 'receive' | null> {
  for (;;) {
    out.write(MENU_PROMPT);
    const line = await input.next();
    if (line === null) {
      out.write('\n');
      return null;
    }
    const answer = line.toString('utf8').trim();
    const choice = parseChoice(answer);
    if (choice) return choice;
    out.write(
      `Unknown operation ${JSON.stringify(answer)}: enter 1, TS or tcpsend to send, 2, TR ` +
        `or tcpreceive to receive.\n`,
    );
  }
}

/** `1`, `TS`, `ts`, `tcpsend` / `2`, `TR`, `tr`, `tcpreceive`, as the template accepts them. */
export function parseChoice(answer: string): 'send' | 'receive' | undefined {
  const key = answer === 'TS' || answer === 'TR' ? answer.toLowerCase() : answer;
  return CHOICES[key];
}

/** `linedrop` with no command: the lab program's menu, then the lab client or the lab server. */
export async function runMenu(ctx: CliContext): Promise<void> {
  const { io } = ctx;
  const choice = await askOperation(ctx.lineInput(), io.stdout);
  if (choice === null) {
    ctx.setExitCode(ExitCode.Usage);
    return;
  }
  const env = process.env;
  const host = env['LINEDROP_HOST'] ?? DEFAULT_HOST;
  const port = env['LINEDROP_PORT'] ? wholeNumber(0, 65535)(env['LINEDROP_PORT']) : DEFAULT_PORT;
  if (choice === 'send') {
    const { interactiveSend } = await import('./send/interactive.js');
    ctx.setExitCode(await interactiveSend({ host, port, input: ctx.lineInput(), out: io.stdout, err: io.stderr }));
    return;
  }
  // The lab's tcp_receive: one connection, then exit.
  const dir = env['LINEDROP_DIR'] ?? DEFAULT_DIR;
  io.stdout.write(`Receiving on port ${port} into ./${dir}; the server exits after one connection.\n`);
  const { receive } = await import('./receive/receive.js');
  ctx.setExitCode(
    await receive({
      port,
      host: env['LINEDROP_LISTEN_HOST'] || undefined,
      dir,
      layout: 'flat',
      once: true,
      saveEmpty: false,
      limits: {},
      logFormat: 'auto',
      err: io.stderr,
    }),
  );
}
