import type { Writable } from 'node:stream';
import type { LineInput } from './line-input.js';

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
    out.write(`Unknown operation ${JSON.stringify(answer)}: enter 1, TS or tcpsend to send, 2, TR or tcpreceive to receive.\n`);
  }
}

/** `1`, `TS`, `ts`, `tcpsend` / `2`, `TR`, `tr`, `tcpreceive`, as the template accepts them. */
export function parseChoice(answer: string): 'send' | 'receive' | undefined {
  const key = answer === 'TS' || answer === 'TR' ? answer.toLowerCase() : answer;
  return CHOICES[key];
}
