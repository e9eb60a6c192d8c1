// Standard input one line at a time, split on `\n` only, shared by the lab's prompts and the lines they ask for.
import type { Readable } from 'node:stream';

/**
 * Reads standard input (a terminal or a pipe) one line at a time, split on `\n` only: the
 * bytes of a line, `\r` and all, come back exactly as typed. Prompts and the lines they answer
 * can share one input, as the lab's Python client shares `input()`.
 */
export class LineInput {
  private readonly chunks: AsyncIterator<Buffer>;
  private pending: Buffer[] = [];
  private ended = false;

  constructor(stream: Readable) {
    this.chunks = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  /** The next line without its `\n`, or null at the end of input (a last line with no `\n` still counts). */
  async next(): Promise<Buffer | null> {
    for (;;) {
      const last = this.pending[this.pending.length - 1];
      const nl = last ? last.indexOf(0x0a) : -1;
      if (nl !== -1 && last) {
        const head = this.pending.slice(0, -1);
        head.push(last.subarray(0, nl));
        const line = Buffer.concat(head);
        const rest = last.subarray(nl + 1);
        this.pending = rest.length > 0 ? [rest] : [];
        return line;
      }
      if (this.ended) {
        if (this.pending.length === 0) return null;
        const line = Buffer.concat(this.pending);
        this.pending = [];
        return line;
      }
      const { value, done } = await this.chunks.next();
      if (done) this.ended = true;
      else this.pending.push(typeof value === 'string' ? Buffer.from(value) : value);
    }
  }

  /** The next `count` lines as an iterable, for a message sent line by line. */
  async *lines(count: number): AsyncGenerator<Buffer> {
    for (let i = 0; i < count; i++) {
      const line = await this.next();
      if (line === null) return;
      yield line;
    }
  }
}
