// `MessageReader`: whole messages (their lines) out of a byte stream, for peers that want lines.
import { Decoder, type DecoderEvent } from './decoder.js';
import type { ProtocolError } from './errors.js';
import type { Limits } from './limits.js';

/** A whole decoded message: its lines without their `\n`. */
export interface Message {
  lines: Buffer[];
  /** Body size in bytes, every `\n` included. */
  bytes: number;
}

/**
 * Collects whole messages out of a stream, for peers that want lines rather than a byte stream
 * (tests, checkers, small tools). It holds one message in memory at a time; a server that saves
 * files uses the `Decoder` itself to stream them.
 */
export class MessageReader {
  private readonly decoder: Decoder;
  private parts: Buffer[] = [];

  constructor(limits: Partial<Limits> = {}) {
    this.decoder = new Decoder(limits);
  }

  get error(): ProtocolError | undefined {
    return this.decoder.error;
  }

  get idle(): boolean {
    return this.decoder.idle;
  }

  /**
   * Returns the messages this chunk completed. When the chunk also broke a rule, the messages
   * completed before the violation are returned first, and the error is thrown by the next call
   * (`push` or `end`); `error` tells at once.
   * @throws ProtocolError when the stream breaks a rule.
   */
  push(chunk: Uint8Array): Message[] {
    return this.collect(this.decoder.push(chunk));
  }

  /** @throws ProtocolError `LINEDROP_ERR_TRUNCATED` if the stream stopped inside a message. */
  end(): void {
    this.collect(this.decoder.end());
  }

  private collect(events: DecoderEvent[]): Message[] {
    const out: Message[] = [];
    for (const event of events) {
      switch (event.type) {
        case 'start':
          this.parts = [];
          break;
        case 'data':
          this.parts.push(Buffer.from(event.data));
          break;
        case 'end':
          out.push({ lines: splitLines(Buffer.concat(this.parts, event.bytes)), bytes: event.bytes });
          this.parts = [];
          break;
        case 'error':
          // Hand out what completed before the violation; the failed decoder repeats the error next time.
          if (out.length > 0) return out;
          throw event.error;
      }
    }
    return out;
  }
}

/** Splits a message body (lines each ending in `\n`) into its lines, without the `\n`. */
export function splitLines(body: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  while (start < body.length) {
    const nl = body.indexOf(0x0a, start);
    const stop = nl === -1 ? body.length : nl;
    lines.push(body.subarray(start, stop));
    start = stop + 1;
  }
  return lines;
}

/** Decodes a whole stream held in memory. @throws ProtocolError on any violation, truncation included. */
export function decodeAll(stream: Uint8Array, limits: Partial<Limits> = {}): Message[] {
  const reader = new MessageReader(limits);
  const messages = reader.push(stream);
  reader.end();
  return messages;
}
