// One client connection, read as a strict lab server reads it: the bytes are recorded (reads,
// messages, lines, with their offsets), each complete message is saved and answered A, the quit
// answered Q, and where the client strays from the protocol the session records a deviation
// (worded by client-deviations.ts). Silence is judged at a program's pace or at a person's.
import { writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { Decoder } from '../protocol/decoder.js';
import { MAX_WIRE_COUNT } from '../protocol/limits.js';
import { LF } from '../protocol/line-scanner.js';
import { STATUS_ACCEPTED, STATUS_QUIT } from '../protocol/status.js';
import {
  bytesAfterQuit,
  IMPLAUSIBLE_COUNT,
  implausibleCount,
  noQuit,
  partialCount,
  stoppedInMessage,
} from './client-deviations.js';
import type {
  ChunkRecord,
  ClientCheckerOptions,
  ClientConnectionReport,
  Deviation,
  MessageRecord,
} from './client-report.js';
import { hex } from './format.js';

export const DEFAULT_QUIET_MS = 2000;
export const DEFAULT_TYPING_MS = 300_000;
/** A pause this long before a line of a message: the lines are typed by hand. */
const HAND_PACE_MS = 400;
const DEFAULT_GRACE_MS = 500;
const MAX_LISTED = 1000;

interface OpenMessage {
  record: MessageRecord;
  parts: Buffer[];
}

/** One client connection, read as a strict lab server reads it; `done` resolves to its report. */
export class Session {
  readonly remote: string;
  readonly done: Promise<ClientConnectionReport>;
  private resolveDone!: (report: ClientConnectionReport) => void;
  private readonly started = performance.now();
  private readonly startedAt = new Date().toISOString();
  private readonly decoder = new Decoder({
    maxLines: MAX_WIRE_COUNT,
    maxLineBytes: Number.MAX_SAFE_INTEGER,
    maxMessageBytes: Number.MAX_SAFE_INTEGER,
  });
  private readonly quietMs: number;
  private readonly typingMs: number;
  private readonly graceMs: number;
  private lastByteAt = performance.now();
  /** The open message's lines come at a person's pace. */
  private handPaced = false;
  private waitTimer: NodeJS.Timeout | undefined;
  private offset = 0;
  /** Where the next count starts. */
  private messageOffset = 0;
  private readonly chunks: ChunkRecord[] = [];
  private chunksOmitted = 0;
  private readonly messages: MessageRecord[] = [];
  private current: OpenMessage | undefined;
  private partial: Buffer[] = [];
  private partialLength = 0;
  private partialStart = 0;
  private quitAt: number | undefined;
  private afterQuit: Buffer[] = [];
  private afterQuitLength = 0;
  private readonly deviations: Deviation[] = [];
  private readonly notes: string[] = [];
  private quietTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private finished = false;
  private closedBy: ClientConnectionReport['closedBy'] = 'client';
  private endText = '';

  constructor(
    private readonly socket: Socket,
    readonly id: number,
    private readonly options: ClientCheckerOptions,
    private readonly onWaiting: (text: string) => void = () => undefined,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.quietMs = options.quietMs ?? DEFAULT_QUIET_MS;
    this.typingMs = Math.max(options.typingMs ?? DEFAULT_TYPING_MS, this.quietMs);
    this.graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      const at = this.offset;
      this.offset += chunk.length;
      if (this.chunks.length < MAX_LISTED) this.chunks.push({ offset: at, length: chunk.length, ms: this.elapsed() });
      else this.chunksOmitted++;
      const now = performance.now();
      if (this.current && now - this.lastByteAt >= HAND_PACE_MS) this.handPaced = true;
      this.lastByteAt = now;
      clearTimeout(this.quietTimer);
      clearTimeout(this.waitTimer);
      // The silence is judged on the state after this chunk: armed once it is read.
      this.queue(async () => {
        await this.onChunk(chunk, at);
        this.armQuiet();
      });
    });
    socket.on('end', () => this.queue(() => this.onClientEnd('client', 'the client closed the connection')));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.queue(() => this.onClientEnd('error', `the connection broke (${err.code ?? err.message})`)),
    );
    socket.on('close', () => this.queue(() => this.onClientEnd('client', 'the connection closed')));
    this.armQuiet();
  }

  /** Ends the connection now (the checker is closing). */
  async abort(): Promise<void> {
    this.queue(() => this.onClientEnd('checker', 'the checker was stopped'));
    await this.done;
  }

  private elapsed(): number {
    return Math.round(performance.now() - this.started);
  }

  private queue(step: () => void | Promise<void>): void {
    this.chain = this.chain.then(step).catch((err: unknown) => {
      this.notes.push(`checker error: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  /**
   * Arms the silence timer: `quietMs` while the client sends at a program's pace, `typingMs` in
   * a message whose lines come at a person's pace or that has no byte after its count yet (then a `waiting`
   * event after `quietMs` says the checker keeps waiting).
   */
  private armQuiet(): void {
    clearTimeout(this.quietTimer);
    clearTimeout(this.waitTimer);
    if (this.finished || this.quitAt !== undefined) return;
    const open = this.current?.record;
    // No byte of the message yet: a person may be typing its first line (the template client
    // sends each line whole, so a part of a line followed by silence is a program that stopped).
    const patient = open !== undefined && (this.handPaced || open.bytes === 0);
    const ms = patient ? this.typingMs : this.quietMs;
    this.quietTimer = setTimeout(() => this.queue(() => this.onQuiet(ms)), ms);
    if (patient && ms > this.quietMs) {
      this.waitTimer = setTimeout(() => {
        const why = this.handPaced ? 'its lines come at the pace of typing' : 'no line of it yet';
        this.onWaiting(
          `waiting for line ${open.linesReceived + 1} of ${open.count} of message ${open.index}: no ` +
            `byte for ${this.quietMs / 1000} s (${why}; the checker waits up to ` +
            `${Math.round(ms / 1000)} s before it reports count-mismatch)`,
        );
      }, this.quietMs);
    }
  }

  private async onChunk(chunk: Buffer, chunkStart: number): Promise<void> {
    if (this.finished) return;
    if (this.quitAt !== undefined) {
      this.keepAfterQuit(chunk);
      return;
    }
    for (const event of this.decoder.push(chunk)) {
      switch (event.type) {
        case 'start': {
          const countBytes = Buffer.alloc(4);
          countBytes.writeUInt32BE(event.lines);
          if (event.lines === 0) {
            this.quitAt = this.messageOffset;
            break;
          }
          if (event.lines >= IMPLAUSIBLE_COUNT) {
            this.deviations.push(
              implausibleCount(event.lines, countBytes, this.messageOffset, this.messages[this.messages.length - 1]),
            );
            this.finish('checker', 'the checker closed the connection after the implausible count');
            return;
          }
          this.current = {
            record: {
              index: this.messages.length + 1,
              offset: this.messageOffset,
              count: event.lines,
              countHex: hex(countBytes),
              lines: [],
              linesReceived: 0,
              bytes: 0,
              complete: false,
            },
            parts: [],
          };
          this.messages.push(this.current.record);
          this.handPaced = false;
          this.partialStart = this.messageOffset + 4;
          break;
        }
        case 'data':
          this.onBody(event.data, chunkStart + (event.data.byteOffset - chunk.byteOffset));
          break;
        case 'end':
          if (event.lines === 0) {
            // The quit: answer Q, close our side, and keep reading a while for stray bytes.
            const quitEnd = (this.quitAt ?? 0) + 4;
            const rest = chunkStart + chunk.length - quitEnd;
            if (rest > 0) this.keepAfterQuit(chunk.subarray(chunk.length - rest));
            clearTimeout(this.quietTimer);
            this.socket.end(Buffer.from([STATUS_QUIT]));
            this.graceTimer = setTimeout(
              () =>
                this.queue(() =>
                  this.finish('checker', `the checker closed the connection ${this.graceMs} ms after Q`),
                ),
              this.graceMs,
            );
            return;
          }
          await this.completeMessage(event.bytes);
          break;
        case 'error':
          this.deviations.push({ kind: 'protocol-error', offset: this.offset, message: event.error.message });
          this.finish('checker', 'the checker closed the connection after a protocol error');
          return;
      }
    }
  }

  private onBody(data: Buffer, at: number): void {
    const open = this.current!;
    const record = open.record;
    record.bytes += data.length;
    if (this.options.dir !== undefined) open.parts.push(Buffer.from(data));
    let pos = 0;
    while (pos < data.length) {
      const nl = data.indexOf(LF, pos);
      const stop = nl === -1 ? data.length : nl + 1;
      if (this.partialLength === 0) this.partialStart = at + pos;
      const piece = data.subarray(pos, stop);
      if (this.partialLength < 4096) this.partial.push(Buffer.from(piece));
      this.partialLength += piece.length;
      if (nl !== -1) {
        record.linesReceived++;
        if (record.lines.length < MAX_LISTED) {
          const line = Buffer.concat(this.partial);
          const text = line[line.length - 1] === LF ? line.subarray(0, line.length - 1) : line;
          record.lines.push({
            offset: this.partialStart,
            length: this.partialLength,
            text: cut(text.toString('utf8'), 200),
          });
        }
        this.partial = [];
        this.partialLength = 0;
      }
      pos = stop;
    }
  }

  private async completeMessage(bytes: number): Promise<void> {
    const open = this.current!;
    this.current = undefined;
    const record = open.record;
    record.complete = true;
    this.messageOffset = record.offset + 4 + bytes;
    if (this.options.dir !== undefined) {
      const name = `${record.index}.txt`;
      try {
        await writeFile(join(this.options.dir, name), Buffer.concat(open.parts));
        record.file = name;
      } catch (err) {
        this.notes.push(`could not save ${name}: ${(err as Error).message}`);
      }
    }
    record.status = 'A';
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(Buffer.from([STATUS_ACCEPTED]));
  }

  private keepAfterQuit(bytes: Buffer): void {
    if (this.afterQuitLength < 64) this.afterQuit.push(Buffer.from(bytes.subarray(0, 64)));
    this.afterQuitLength += bytes.length;
  }

  private onQuiet(ms: number): void {
    if (this.finished || this.quitAt !== undefined) return;
    if (this.incomplete(`the client went silent for ${ms} ms`)) {
      this.finish('checker', `the checker closed the connection after ${ms} ms of silence mid-message`);
    }
  }

  private onClientEnd(by: ClientConnectionReport['closedBy'], text: string): void {
    if (this.finished) return;
    if (by !== 'checker' && this.quitAt === undefined && !this.incomplete(text)) {
      this.deviations.push(noQuit(text, this.messages.length, this.offset));
    }
    this.finish(by, this.quitAt !== undefined ? `${text} after Q` : text);
  }

  /** Records the deviation of a stream stopped (`why`: how) inside a count or a message. Returns whether it was. */
  private incomplete(why: string): boolean {
    if (this.current) {
      this.deviations.push(stoppedInMessage(this.current.record, Buffer.concat(this.partial), this.partialStart, why));
      return true;
    }
    if (!this.decoder.idle) {
      this.deviations.push(partialCount(this.offset - this.messageOffset, this.messageOffset, why));
      return true;
    }
    return false;
  }

  private finish(by: ClientConnectionReport['closedBy'], text: string): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.quietTimer);
    clearTimeout(this.waitTimer);
    clearTimeout(this.graceTimer);
    this.closedBy = by;
    this.endText = text;
    if (this.afterQuitLength > 0)
      this.deviations.push(bytesAfterQuit(this.afterQuitLength, Buffer.concat(this.afterQuit), (this.quitAt ?? 0) + 4));
    this.deviations.sort((a, b) => a.offset - b.offset);
    if (!this.socket.destroyed) {
      this.socket.end();
      const socket = this.socket;
      setTimeout(() => socket.destroy(), 100).unref();
    }
    this.resolveDone({
      connection: this.id,
      remote: this.remote,
      startedAt: this.startedAt,
      ms: this.elapsed(),
      bytes: this.offset,
      chunks: this.chunks,
      chunksOmitted: this.chunksOmitted,
      messages: this.messages,
      quit: this.quitAt !== undefined ? { offset: this.quitAt, status: 'Q' } : null,
      bytesAfterQuit: this.afterQuitLength,
      closedBy: this.closedBy,
      end: this.endText,
      deviations: this.deviations,
      notes: this.notes,
      ok: this.deviations.length === 0,
    });
  }
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
