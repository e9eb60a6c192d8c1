// A check's conversation with the server, as the reports' timelines show it.
import type { ConversationEvent } from './types.js';

/** Bytes kept per `sent`/`received` event of a conversation (lab servers get small messages). */
const MAX_EVENT_BYTES = 4096;

/**
 * The record of one check's conversation with the server: every connection, write, read, close
 * and reset, with its time since the check began.
 */
export class Conversation {
  readonly events: ConversationEvent[] = [];
  private readonly t0 = Date.now();
  private conns = 0;

  /** Number for the next connection of the check: 1, 2, ... */
  nextConn(): number {
    return ++this.conns;
  }

  add(conn: number, kind: ConversationEvent['kind'], detail: { bytes?: Uint8Array; text?: string } = {}): void {
    const event: ConversationEvent = { at: Date.now() - this.t0, conn, kind };
    if (detail.bytes) {
      const b = detail.bytes;
      event.hex = Buffer.from(b.buffer, b.byteOffset, Math.min(b.byteLength, MAX_EVENT_BYTES)).toString('hex');
      if (b.byteLength > MAX_EVENT_BYTES) event.text = `${b.byteLength} bytes (the first ${MAX_EVENT_BYTES} shown)`;
    }
    if (detail.text !== undefined) event.text = detail.text;
    this.events.push(event);
  }

  note(text: string, conn = 0): void {
    this.add(conn, 'note', { text });
  }
}
