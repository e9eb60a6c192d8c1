import { EventEmitter, once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Decoder } from '../protocol/decoder.js';
import { MAX_WIRE_COUNT } from '../protocol/limits.js';
import { STATUS_ACCEPTED, STATUS_QUIT } from '../protocol/status.js';
import { hex, plural, quote } from './format.js';
import { DEFAULT_PORT } from '../net-address.js';

/** The lab's port (the template's constant). */
/** The lab's port. */
export const LAB_PORT = DEFAULT_PORT;

/**
 * What a client can do wrong on the wire:
 * - `count-mismatch`: the count announced more lines than arrived before the client went quiet or closed;
 * - `missing-newline`: the last line of a message came without its `\n`;
 * - `partial-count`: fewer than the 4 bytes of a count, then quiet or closed;
 * - `implausible-count`: a count of 16,777,216 lines or more (typically text read as a count,
 *   after a message with more lines than its count said); the checker closes the connection;
 * - `bytes-after-quit`: anything sent after the zero-line message;
 * - `no-quit`: the connection closed between messages without the zero-line message;
 * - `protocol-error`: anything else the decoder refused.
 */
export type DeviationKind = 'count-mismatch' | 'missing-newline' | 'partial-count' | 'implausible-count' | 'bytes-after-quit' | 'no-quit' | 'protocol-error';

export interface Deviation {
  kind: DeviationKind;
  /** Byte offset in the client's stream where the deviation starts. */
  offset: number;
  message: string;
}

/** One read from the socket: where it starts in the stream, how long it is, when it came (ms after the connection opened). */
export interface ChunkRecord {
  offset: number;
  length: number;
  ms: number;
}

export interface LineRecord {
  offset: number;
  /** Bytes of the line with its `\n`. */
  length: number;
  /** The line without its `\n`, as UTF-8 (cut after 200 characters). */
  text: string;
}

export interface MessageRecord {
  /** 1, 2, ... in the connection (the file number). */
  index: number;
  /** Offset of the count's first byte. */
  offset: number;
  count: number;
  countHex: string;
  /** The lines that arrived (at most the first 1000 are listed). */
  lines: LineRecord[];
  linesReceived: number;
  /** Body bytes received, every `\n` included. */
  bytes: number;
  complete: boolean;
  /** The file saved for it, when a folder was given. */
  file?: string;
  /** What the checker answered: A for a complete message. */
  status?: 'A';
}

export interface ClientConnectionReport {
  connection: number;
  remote: string;
  startedAt: string;
  ms: number;
  /** Bytes received in all. */
  bytes: number;
  chunks: ChunkRecord[];
  /** Reads not listed (only the first 1000 are). */
  chunksOmitted: number;
  messages: MessageRecord[];
  /** The zero-line message, if it came. */
  quit: { offset: number; status: 'Q' } | null;
  bytesAfterQuit: number;
  /** Who ended the connection: the client, the checker (after Q and a grace period, or after a deviation), or an error. */
  closedBy: 'client' | 'checker' | 'error';
  end: string;
  deviations: Deviation[];
  /** Problems of the checker itself (a file it could not save); not the client's fault. */
  notes: string[];
  ok: boolean;
}

export interface ClientCheckerOptions {
  /** Folder to save each message in, as k.txt (later connections overwrite, as the lab server does). */
  dir?: string;
  /** Silence in the middle of a message (or a count) that counts as the client having stopped, at a program's pace (default 2000 ms). */
  quietMs?: number;
  /**
   * Silence allowed in a message whose lines come at a person's pace (typed by hand into the
   * template client: a pause of 400 ms or more before one of its lines), or that has no byte
   * after its count yet (default 300000 ms: 5 min).
   */
  typingMs?: number;
  /** After answering Q: how long to keep reading for stray bytes before closing (default 500 ms). */
  graceMs?: number;
}

export interface ClientCheckerEvents {
  opened: [{ connection: number; remote: string }];
  /** A client has been silent mid-message for `quietMs`, and the checker waits longer (lines typed by hand). */
  waiting: [{ connection: number; text: string }];
  report: [ClientConnectionReport];
}

export const DEFAULT_QUIET_MS = 2000;
export const DEFAULT_TYPING_MS = 300_000;
/** A pause this long before a line of a message: the lines are typed by hand. */
const HAND_PACE_MS = 400;
const DEFAULT_GRACE_MS = 500;
const MAX_LISTED = 1000;
const IMPLAUSIBLE_COUNT = 0x0100_0000;
const LF = 0x0a;

/**
 * A strict lab server for grading clients: it records exactly what each client sends (with byte
 * offsets and timing), saves the files, answers A and Q like the lab server, and reports every
 * deviation from the protocol. It never answers R: a strict lab server has no such byte.
 */
export class ClientChecker extends EventEmitter<ClientCheckerEvents> {
  readonly reports: ClientConnectionReport[] = [];
  private readonly server: Server;
  private readonly sessions = new Set<Session>();
  private connections = 0;
  private taken = 0;
  private waiters: ((report: ClientConnectionReport) => void)[] = [];
  private acceptOne = false;

  constructor(readonly options: ClientCheckerOptions = {}) {
    super();
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
  }

  /** Starts listening (port 0 picks a free port). With `once`, stops accepting after the first connection. */
  async listen(port = LAB_PORT, host?: string, opts: { once?: boolean } = {}): Promise<AddressInfo> {
    this.acceptOne = opts.once === true;
    if (this.options.dir !== undefined) await mkdir(this.options.dir, { recursive: true });
    this.server.listen(port, host);
    await once(this.server, 'listening');
    return this.address();
  }

  address(): AddressInfo {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('the checker is not listening');
    return address;
  }

  /** The next connection report not yet taken by this method (in the order connections ended). */
  nextReport(): Promise<ClientConnectionReport> {
    const ready = this.reports[this.taken];
    if (ready) {
      this.taken++;
      return Promise.resolve(ready);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Stops accepting; connections still open are ended at once and reported. */
  async close(): Promise<void> {
    if (this.server.listening) this.server.close();
    await Promise.all([...this.sessions].map((s) => s.abort()));
  }

  private accept(socket: Socket): void {
    const id = ++this.connections;
    if (this.acceptOne && this.server.listening) this.server.close();
    const session = new Session(socket, id, this.options, (text) => this.emit('waiting', { connection: id, text }));
    this.sessions.add(session);
    this.emit('opened', { connection: id, remote: session.remote });
    void session.done.then((report) => {
      this.sessions.delete(session);
      this.reports.push(report);
      const waiter = this.waiters.shift();
      if (waiter) {
        this.taken++;
        waiter(report);
      }
      this.emit('report', report);
    });
  }
}

interface OpenMessage {
  record: MessageRecord;
  parts: Buffer[];
}

/** One client connection, read as a strict lab server reads it. */
class Session {
  readonly remote: string;
  readonly done: Promise<ClientConnectionReport>;
  private resolveDone!: (report: ClientConnectionReport) => void;
  private readonly started = performance.now();
  private readonly startedAt = new Date().toISOString();
  private readonly decoder = new Decoder({ maxLines: MAX_WIRE_COUNT, maxLineBytes: Number.MAX_SAFE_INTEGER, maxMessageBytes: Number.MAX_SAFE_INTEGER });
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
    socket.on('error', (err: NodeJS.ErrnoException) => this.queue(() => this.onClientEnd('error', `the connection broke (${err.code ?? err.message})`)));
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
          `waiting for line ${open.linesReceived + 1} of ${open.count} of message ${open.index}: no byte for ${this.quietMs / 1000} s (${why}; the checker waits up to ${Math.round(ms / 1000)} s before it reports count-mismatch)`,
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
            this.implausible(event.lines, countBytes);
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
              () => this.queue(() => this.finish('checker', `the checker closed the connection ${this.graceMs} ms after Q`)),
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
          record.lines.push({ offset: this.partialStart, length: this.partialLength, text: cut(text.toString('utf8'), 200) });
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

  private implausible(count: number, bytes: Buffer): void {
    const text = bytes.every((b) => b >= 0x20 && b < 0x7f) ? ` = the text ${quote(bytes)}` : '';
    const previous = this.messages[this.messages.length - 1];
    const hint = previous ? `; message ${previous.index} probably had more lines than its count of ${previous.count} said` : '';
    this.deviations.push({
      kind: 'implausible-count',
      offset: this.messageOffset,
      message: `a count of ${count} lines ([${hex(bytes)}]${text}) at offset ${this.messageOffset} is not a plausible line count${hint}`,
    });
    this.finish('checker', 'the checker closed the connection after the implausible count');
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
    if (by !== 'checker' && this.quitAt === undefined && !this.incomplete(text.replace(/^the /, 'then the '))) {
      const n = this.messages.length;
      this.deviations.push({
        kind: 'no-quit',
        offset: this.offset,
        message: `${text} after ${plural(n, 'message')} without sending the quit message [00 00 00 00]`,
      });
    }
    this.finish(by, this.quitAt !== undefined ? `${text} after Q` : text);
  }

  /** Records the deviation of a stream stopped inside a count or a message. Returns whether it was. */
  private incomplete(then: string): boolean {
    const open = this.current;
    if (open) {
      const record = open.record;
      const partial = Buffer.concat(this.partial);
      const lastLine = record.linesReceived + 1 === record.count;
      if (this.partialLength > 0 && lastLine) {
        this.deviations.push({
          kind: 'missing-newline',
          offset: this.partialStart,
          message: `line ${record.count} of ${record.count} of message ${record.index} (offset ${this.partialStart}: ${quote(partial, 60)}) is not ended by \\n; ${then.replace(/^then /, '')}${countHint(partial)}`,
        });
      } else {
        const extra = this.partialLength > 0 ? ` and part of another (offset ${this.partialStart}: ${quote(partial, 60)})` : '';
        this.deviations.push({
          kind: 'count-mismatch',
          offset: record.offset,
          message: `the count of message ${record.index} (offset ${record.offset}, [${record.countHex}]) says ${record.count} lines but ${record.linesReceived} arrived${extra}; ${then.replace(/^then /, '')}`,
        });
      }
      return true;
    }
    if (!this.decoder.idle) {
      const have = this.offset - this.messageOffset;
      this.deviations.push({
        kind: 'partial-count',
        offset: this.messageOffset,
        message: `only ${have} of the 4 bytes of a count arrived (offset ${this.messageOffset}); ${then.replace(/^then /, '')}`,
      });
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
    if (this.afterQuitLength > 0) {
      const first = Buffer.concat(this.afterQuit).subarray(0, 32);
      const quitEnd = (this.quitAt ?? 0) + 4;
      this.deviations.push({
        kind: 'bytes-after-quit',
        offset: quitEnd,
        message: `${plural(this.afterQuitLength, 'byte')} after the quit message (from offset ${quitEnd}): [${hex(first)}] ${quote(first, 40)}`,
      });
    }
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

/** A hint when an unterminated line holds what looks like the next count (the quit, typically). */
function countHint(partial: Buffer): string {
  if (partial.length >= 4 && partial.subarray(partial.length - 4).equals(Buffer.alloc(4))) {
    return ' (its last 4 bytes, 00 00 00 00, are the quit message: the client sent it right after a line without its \\n)';
  }
  if (partial.includes(Buffer.from([0, 0]))) return ' (it holds 00 bytes, which look like a count: the line was probably sent without its \\n)';
  return '';
}
