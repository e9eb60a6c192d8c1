// The incremental decoder: chunks of any size in; start, data (views of the chunk), end and error
// events out; every limit checked as soon as the bytes that can break it arrive.
import { ProtocolError, type ProtocolErrorCode } from './errors.js';
import { resolveLimits, type Limits } from './limits.js';
import { LF, LineScanner } from './line-scanner.js';
import { countNewlines } from './newlines.js';

/** A message's 4-byte count is complete: `lines` lines follow (0 means "quit"). */
export interface StartEvent {
  type: 'start';
  lines: number;
}

/**
 * Bytes of the current message body: whole lines and parts of lines, every `\n` included, in
 * order. `data` is a view into the chunk given to `push`, never a copy; it stays valid as long as
 * the caller does not reuse that chunk's memory.
 */
export interface DataEvent {
  type: 'data';
  data: Buffer;
}

/** The current message is complete. */
export interface EndEvent {
  type: 'end';
  lines: number;
  bytes: number;
}

/** The stream broke a rule; the decoder has failed and stays failed. */
export interface ErrorEvent {
  type: 'error';
  error: ProtocolError;
}

export type DecoderEvent = StartEvent | DataEvent | EndEvent | ErrorEvent;

const enum ReadState {
  COUNT,
  LINES,
  FAILED,
}

/** Chunks of at least this many bytes inside a long message are counted whole (see `readLines`). */
const COUNT_WHOLE_CHUNK = 16 * 1024;

/**
 * Incremental, allocation-light decoder of the linedrop stream: a 4-byte big-endian line count,
 * then that many `\n`-terminated lines, repeated.
 *
 * Chunks may be split anywhere. Body bytes are handed on as views (`data` events), so a message
 * of any size passes through in constant memory. The `\n` scan resumes where the last chunk
 * ended; nothing is scanned twice and nothing is concatenated.
 */
export class Decoder {
  readonly limits: Limits;

  private state = ReadState.COUNT;
  /** The bytes of a count split across chunks, accumulated big-endian. */
  private countPartial = 0;
  private countHave = 0;
  private linesLeft = 0;
  private linesTotal = 0;
  private lineBytes = 0;
  private messageBytes = 0;
  private failure: ProtocolError | undefined;
  private offset = 0;
  /** Finds the message's end; remembers whether the last chunk's lines were short. */
  private readonly scanner = new LineScanner();

  constructor(limits: Partial<Limits> = {}) {
    this.limits = resolveLimits(limits);
  }

  /** The error the decoder failed with, if it has. */
  get error(): ProtocolError | undefined {
    return this.failure;
  }

  /** True between messages: no count or line is partly received. */
  get idle(): boolean {
    return this.state === ReadState.COUNT && this.countHave === 0;
  }

  /** Bytes consumed from the stream so far. */
  get bytesConsumed(): number {
    return this.offset;
  }

  /**
   * Feeds the next chunk of the stream. Returns what it completed, in order. An error is the
   * last event; after it every call returns that same error again.
   */
  push(chunk: Uint8Array): DecoderEvent[] {
    const events: DecoderEvent[] = [];
    if (this.failure) {
      events.push({ type: 'error', error: this.failure });
      return events;
    }
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const end = buf.length;
    let pos = 0;
    while (pos < end) {
      if (this.state === ReadState.COUNT) {
        pos = this.readCount(buf, pos, events);
      } else {
        pos = this.readLines(buf, pos, events);
      }
      if (this.state === ReadState.FAILED) break;
    }
    this.offset += pos;
    return events;
  }

  /**
   * Tells the decoder the stream has ended. Returns an `LINEDROP_ERR_TRUNCATED` error event if a count or
   * a message was only partly received, else nothing.
   */
  end(): DecoderEvent[] {
    if (this.failure) return [{ type: 'error', error: this.failure }];
    if (this.idle) return [];
    const what =
      this.state === ReadState.COUNT
        ? `after ${this.countHave} of the 4 bytes of a line count`
        : `with ${this.linesLeft} of ${this.linesTotal} lines still to come`;
    return [{ type: 'error', error: this.fail('LINEDROP_ERR_TRUNCATED', `stream ended ${what}`) }];
  }

  private readCount(buf: Buffer, pos: number, events: DecoderEvent[]): number {
    let count: number;
    if (this.countHave === 0 && buf.length - pos >= 4) {
      count = buf.readUInt32BE(pos);
      pos += 4;
    } else {
      while (this.countHave < 4 && pos < buf.length) {
        this.countPartial = this.countPartial * 256 + buf[pos++]!;
        this.countHave++;
      }
      if (this.countHave < 4) return pos;
      count = this.countPartial;
      this.countPartial = 0;
      this.countHave = 0;
    }
    if (count > this.limits.maxLines) {
      events.push({
        type: 'error',
        error: this.fail(
          'LINEDROP_ERR_TOO_MANY_LINES',
          `message announces ${count} lines; the limit is ${this.limits.maxLines}`,
        ),
      });
      return pos;
    }
    events.push({ type: 'start', lines: count });
    if (count === 0) {
      events.push({ type: 'end', lines: 0, bytes: 0 });
    } else {
      this.state = ReadState.LINES;
      this.linesLeft = count;
      this.linesTotal = count;
      this.lineBytes = 0;
      this.messageBytes = 0;
    }
    return pos;
  }

  private readLines(buf: Buffer, start: number, events: DecoderEvent[]): number {
    const { maxLineBytes, maxMessageBytes } = this.limits;
    const end = buf.length;
    const available = end - start;
    if (this.lineBytes + available <= maxLineBytes && this.messageBytes + available <= maxMessageBytes) {
      // No limit can be crossed within this chunk, so only the message's end matters: find the
      // last line's \n (or count the lines the chunk completes) without looking at each line.
      if (available >= COUNT_WHOLE_CHUNK && this.linesLeft > available >>> 3) {
        // The chunk most likely ends inside the message (it would take lines of 8 bytes or less to
        // finish it here): count its lines in one pass (16 bytes at a time), and only if it does
        // finish the message look for the last line's end.
        const lines = countNewlines(buf.subarray(start, end));
        if (lines < this.linesLeft) {
          this.linesLeft -= lines;
          this.lineBytes = lines > 0 ? end - buf.lastIndexOf(LF, end - 1) - 1 : this.lineBytes + available;
          this.messageBytes += available;
          events.push({ type: 'data', data: buf.subarray(start, end) });
          return end;
        }
      }
      const scanner = this.scanner;
      const stop = scanner.find(buf, start, this.linesLeft);
      if (stop === -1) {
        this.linesLeft -= scanner.count;
        this.lineBytes = scanner.count > 0 ? end - scanner.last - 1 : this.lineBytes + available;
        this.messageBytes += available;
        events.push({ type: 'data', data: buf.subarray(start, end) });
        return end;
      }
      this.messageBytes += stop - start;
      this.lineBytes = 0;
      this.linesLeft = 0;
      events.push({ type: 'data', data: buf.subarray(start, stop) });
      events.push({ type: 'end', lines: this.linesTotal, bytes: this.messageBytes });
      this.state = ReadState.COUNT;
      return stop;
    }
    // Near a limit: line by line, so the error comes at the exact byte that breaks it.
    let pos = start;
    while (true) {
      const nl = buf.indexOf(LF, pos);
      const content = (nl === -1 ? end : nl) - pos;
      const taken = nl === -1 ? content : content + 1;
      if (this.lineBytes + content > maxLineBytes || this.messageBytes + taken > maxMessageBytes) {
        // Report the limit the stream crossed first, so the error does not depend on how the
        // stream was cut into chunks (the line limit wins a tie).
        const lineOver = this.lineBytes + content > maxLineBytes ? maxLineBytes - this.lineBytes + 1 : Infinity;
        const messageOver =
          this.messageBytes + taken > maxMessageBytes ? maxMessageBytes - this.messageBytes + 1 : Infinity;
        if (lineOver <= messageOver) return this.failLineTooLong(nl === -1 ? end : nl, events);
        return this.failTooLarge(nl === -1 ? end : nl + 1, this.messageBytes + taken, events);
      }
      if (nl === -1) {
        // A partial line: count it, hand it on, and resume the scan at the next chunk.
        this.lineBytes += content;
        this.messageBytes += content;
        if (end > start) events.push({ type: 'data', data: buf.subarray(start, end) });
        return end;
      }
      this.messageBytes += taken;
      this.lineBytes = 0;
      pos = nl + 1;
      if (--this.linesLeft === 0) {
        events.push({ type: 'data', data: buf.subarray(start, pos) });
        events.push({ type: 'end', lines: this.linesTotal, bytes: this.messageBytes });
        this.state = ReadState.COUNT;
        return pos;
      }
    }
  }

  private failLineTooLong(at: number, events: DecoderEvent[]): number {
    const lineNo = this.linesTotal - this.linesLeft + 1;
    const error = this.fail(
      'LINEDROP_ERR_LINE_TOO_LONG',
      `line ${lineNo} of ${this.linesTotal} is longer than ${this.limits.maxLineBytes} bytes`,
    );
    events.push({ type: 'error', error });
    return at;
  }

  private failTooLarge(at: number, size: number, events: DecoderEvent[]): number {
    const error = this.fail(
      'LINEDROP_ERR_MESSAGE_TOO_LARGE',
      `message body reached ${size} bytes; the limit is ${this.limits.maxMessageBytes}`,
    );
    events.push({ type: 'error', error });
    return at;
  }

  private fail(code: ProtocolErrorCode, message: string): ProtocolError {
    this.state = ReadState.FAILED;
    this.failure = new ProtocolError(code, message);
    return this.failure;
  }
}
