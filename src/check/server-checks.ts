import { randomBytes } from 'node:crypto';
import { encodeMessage, QUIT_MESSAGE } from '../protocol/encoder.js';
import { STATUS_ACCEPTED } from '../protocol/status.js';
import { firstDifference, hex, messageText, quote, QUIT_TEXT, statusesText } from './format.js';
import { ServerProcess } from './restart.js';
import { changedFiles, filesText, snapshot, type FileState, type Snapshot } from './snapshot.js';
import type { CheckReport, CheckResult, CheckServerOptions, CheckStatus, SkipReason, StatusCounts } from './types.js';
import { ConnectFailed, Conversation, sleep, Wire } from './wire.js';
import { formatAddress } from '../net-address.js';


export const DEFAULT_TIMEOUT_MS = 3000;
const QUICK_PAUSE_MS = 100;
/** After the last expected byte: how long to wait for the server to close before closing ourselves. */
const GRACE_MS = 200;
/** After a message's status: how long to wait for stray extra bytes. */
const EXTRA_MS = 50;
/** How long the robustness checks watch the server's reaction to what they sent. */
const WATCH_MS = 1000;

const A = STATUS_ACCEPTED;

/** The server stopped accepting connections (and could not be restarted). */
class Unreachable extends Error {
  override readonly name = 'Unreachable';
}

/** A check ran past its hard limit; its connections are closed. */
class Cancelled extends Error {
  override readonly name = 'Cancelled';
}

interface Outcome {
  status: CheckStatus;
  skipReason?: SkipReason;
  sent: string;
  expected: string;
  seen: string;
  notes?: string[];
}

interface CheckDef {
  name: string;
  title: string;
  required: boolean;
  needsDir?: boolean;
  run(scope: Scope): Promise<Outcome>;
}

/** A check's list of what it sent, in order. */
class Sent {
  private readonly steps: string[] = [];
  add(step: string): this {
    this.steps.push(step);
    return this;
  }
  text(): string {
    return this.steps.join(', ');
  }
}

/** Everything a run shares: the target, the restart machinery, the unique content counter. */
class Run {
  readonly timeoutMs: number;
  readonly pauseMs: number;
  readonly startupMs: number;
  readonly nonce = randomBytes(4).toString('hex');
  readonly proc: ServerProcess | undefined;
  private serial = 0;
  /** A connection was made at least once. */
  connectedOnce = false;
  /** The server had to be restarted after it had served a check: it serves one connection (or died). */
  knownSingle = false;
  lastConnectError: string | undefined;

  constructor(readonly options: CheckServerOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.pauseMs = options.pauseMs ?? (options.quick ? QUICK_PAUSE_MS : 1000);
    this.startupMs = options.startupMs ?? 10_000;
    this.proc = options.restartCmd ? new ServerProcess(options.restartCmd) : undefined;
  }

  /** Lines that no earlier message of any run can have held: `label (#7, run 1a2b3c4d)`. */
  lines(label: string, n: number): string[] {
    const id = `[${this.nonce}-${++this.serial}]`;
    return Array.from({ length: n }, (_, i) => (n === 1 ? `${label} ${id}` : `${label} ${i + 1}/${n} ${id}`));
  }

  async connect(allowRestart: boolean, talk: Conversation): Promise<Wire> {
    const { host, port } = this.options;
    try {
      const wire = await Wire.connect(host, port, this.timeoutMs, talk);
      this.connectedOnce = true;
      return wire;
    } catch (e) {
      if (!(e instanceof ConnectFailed)) throw e;
      this.lastConnectError = `${e.code}: ${e.message}`;
      if (!allowRestart || !this.proc) throw new Unreachable(`cannot connect to ${formatAddress(host, port)} (${e.code})`);
    }
    // Restart the server and wait until the port accepts connections: the first connection that
    // succeeds is the check's own (a probe would use up a one-connection server).
    if (this.connectedOnce) this.knownSingle = true;
    talk.note(`restarting the server: ${this.proc.command}`);
    await this.proc.start();
    const deadline = Date.now() + this.startupMs;
    while (true) {
      try {
        const wire = await Wire.connect(host, port, Math.min(this.timeoutMs, 1000), talk);
        this.connectedOnce = true;
        return wire;
      } catch (e) {
        if (!(e instanceof ConnectFailed)) throw e;
        this.lastConnectError = `${e.code}: ${e.message}`;
        if (!this.proc.running || Date.now() >= deadline) {
          const why = this.proc.running ? `it did not accept connections within ${this.startupMs} ms` : `the command ${this.proc.lastExit ?? 'exited'}`;
          const output = this.proc.output.trim();
          throw new Unreachable(`restarted the server with ${JSON.stringify(this.proc.command)} but ${why}${output ? `; it printed: ${output.slice(-500)}` : ''}`);
        }
        await sleep(50);
      }
    }
  }
}

/** One attempt at one check: its connections, closed when it ends. */
class Scope {
  readonly wires: Wire[] = [];
  cancelled = false;
  constructor(
    readonly run: Run,
    readonly talk: Conversation,
  ) {}

  get dir(): string {
    const dir = this.run.options.dir;
    if (dir === undefined) throw new Error('this check needs the server folder');
    return dir;
  }

  get hasDir(): boolean {
    return this.run.options.dir !== undefined;
  }

  get t(): number {
    return this.run.timeoutMs;
  }

  /** A connection for this check; restarts the server if it is gone and `restart` is allowed. */
  async connect(restart = true): Promise<Wire> {
    if (this.cancelled) throw new Cancelled('the check was stopped');
    const wire = await this.run.connect(restart, this.talk);
    if (this.cancelled) {
      wire.destroy();
      throw new Cancelled('the check was stopped');
    }
    this.wires.push(wire);
    return wire;
  }

  close(): void {
    for (const w of this.wires) w.destroy();
  }

  /** The check's first connection was closed by the server before it sent any byte. */
  get silentlyClosed(): boolean {
    const first = this.wires[0];
    return first !== undefined && first.received === 0 && first.serverGone && !first.closedByUs;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers of the checks

function body(lines: readonly string[]): Buffer {
  return encodeMessage(lines).subarray(4);
}

/** Status bytes seen on a connection, and how it ended: `A Q, then the server closed the connection`. */
function seenText(wire: Wire, t: number): string {
  const statuses = wire.received === 0 ? `no byte within ${t} ms` : statusesText(wire.data);
  return `${statuses}, ${wire.endText()}`;
}

function equalsText(wire: Wire, want: string): boolean {
  return wire.data.equals(Buffer.from(want, 'latin1'));
}

/** Sends the quit message, waits for its status and for the server to close (briefly). */
async function quit(wire: Wire, sent: Sent, statusesBefore: number, t: number): Promise<void> {
  await wire.write(QUIT_MESSAGE);
  sent.add(QUIT_TEXT);
  await wire.waitForBytes(statusesBefore + 1, t);
  await wire.linger(GRACE_MS);
}

/**
 * The bytes the server saved for a message in `file`: the whole file, or, when the file is the
 * earlier file with bytes added at its end, only the added bytes (appending is the overwrite
 * check's business; the others judge what was saved for their own message).
 */
function savedBytes(file: FileState, before: FileState | undefined): { bytes: Buffer; appended: boolean } {
  const now = file.content ?? Buffer.alloc(0);
  const was = before?.content;
  if (was && was.length > 0 && now.length > was.length && now.subarray(0, was.length).equals(was)) {
    return { bytes: now.subarray(was.length), appended: true };
  }
  return { bytes: now, appended: false };
}

/** Reads the folder until `done` says the server's files are in place, at most ~500 ms (a server may answer before its write lands). */
async function settle(dir: string, done: (snap: Snapshot) => boolean): Promise<Snapshot> {
  let snap = await snapshot(dir);
  for (let i = 0; i < 5 && !done(snap); i++) {
    await sleep(100);
    snap = await snapshot(dir);
  }
  return snap;
}

/** Where a message's bytes went among the files that changed, if anywhere. */
function findHolder(changed: readonly FileState[], wanted: Buffer): FileState | undefined {
  return changed.find((f) => f.content?.includes(wanted));
}

/**
 * The "keeps serving" part of the robustness checks: a new connection's message must be answered
 * A, then the quit Q. A server already known to serve one connection and exit is not judged.
 */
async function keepsServing(scope: Scope, sent: Sent): Promise<{ ok: boolean; judged: boolean; seen: string }> {
  let wire: Wire;
  try {
    wire = await scope.connect(false);
  } catch (e) {
    if (!(e instanceof Unreachable)) throw e;
    if (scope.run.knownSingle) {
      return { ok: true, judged: false, seen: 'the server had exited (it serves one connection, as the lab server does), so whether it keeps serving was not judged' };
    }
    return { ok: false, judged: true, seen: 'the next connection was refused: the server stopped serving' };
  }
  const lines = scope.run.lines('still serving?', 1);
  sent.add(`then a new connection: ${messageText(lines)}`);
  await wire.write(encodeMessage(lines));
  await wire.waitForBytes(1, scope.t);
  await quit(wire, sent, 1, scope.t);
  const ok = equalsText(wire, 'AQ');
  return { ok, judged: true, seen: `the next connection: ${seenText(wire, scope.t)}` };
}

/** With a folder: the non-empty k.txt files a connection left behind (a partial file is a fault). */
async function filesLeft(scope: Scope, before: Snapshot | undefined): Promise<FileState[]> {
  if (!before) return [];
  await sleep(100);
  return changedFiles(before, await snapshot(scope.dir)).filter((f) => f.size > 0);
}

// ---------------------------------------------------------------------------------------------
// The checks, in the order they run. The folder checks come first: a server whose numbering
// never restarts is then seen on its first connection by `numbering` and on its second by
// `numbering-restarts`, so that exactly one check reports the fault.

const CHECKS: CheckDef[] = [
  {
    name: 'numbering',
    title: "k.txt numbering: a connection's messages are saved as 1.txt, 2.txt, 3.txt, byte for byte",
    required: true,
    needsDir: true,
    async run(scope) {
      const msgs = [scope.run.lines('numbering, file 1', 2), scope.run.lines('numbering, file 2', 1), scope.run.lines('numbering, file 3', 3)];
      const bodies = msgs.map(body);
      const names = ['1.txt', '2.txt', '3.txt'];
      const before = await snapshot(scope.dir);
      const wire = await scope.connect();
      const sent = new Sent();
      for (const [i, m] of msgs.entries()) {
        await wire.write(encodeMessage(m));
        sent.add(messageText(m));
        await wire.waitForBytes(i + 1, scope.t);
      }
      await quit(wire, sent, 3, scope.t);
      const exact = (snap: Snapshot, i: number): boolean => {
        const file = snap.get(names[i]!);
        return file !== undefined && savedBytes(file, before.get(names[i]!)).bytes.equals(bodies[i]!);
      };
      const after = await settle(scope.dir, (snap) => names.every((_, i) => exact(snap, i)));
      const changed = changedFiles(before, after);
      const parts: string[] = [];
      const notes: string[] = [];
      let ok = true;
      for (const [i, name] of names.entries()) {
        const file = after.get(name);
        const wanted = bodies[i]!;
        if (!file || !changed.includes(file)) {
          ok = false;
          const holder = findHolder(changed, wanted);
          parts.push(holder ? `message ${i + 1} saved as ${holder.name}, not ${name}` : `${name} not written`);
          continue;
        }
        const saved = savedBytes(file, before.get(name));
        if (saved.appended) notes.push(`${name}: the message was appended to the earlier ${name} (see overwrite)`);
        if (saved.bytes.equals(wanted)) {
          parts.push(`${name}: message ${i + 1}, exactly (${wanted.length} bytes)`);
        } else {
          ok = false;
          parts.push(`${name}: not message ${i + 1} (${firstDifference(wanted, saved.bytes)})`);
        }
      }
      return {
        status: ok ? 'pass' : 'fail',
        sent: sent.text(),
        expected: `1.txt, 2.txt and 3.txt holding exactly the three messages' lines (${bodies.map((b) => b.length).join(', ')} bytes)`,
        seen: `${parts.join('; ')}; statuses ${seenText(wire, scope.t)}`,
        notes,
      };
    },
  },
  {
    name: 'numbering-restarts',
    title: "numbering restarts: a new connection's first message is saved as 1.txt",
    required: true,
    needsDir: true,
    async run(scope) {
      const lines = scope.run.lines('new connection, first file', 2);
      const wanted = body(lines);
      const before = await snapshot(scope.dir);
      const wire = await scope.connect();
      const sent = new Sent();
      await wire.write(encodeMessage(lines));
      sent.add(messageText(lines));
      await wire.waitForBytes(1, scope.t);
      await quit(wire, sent, 1, scope.t);
      const inOne = (snap: Snapshot): boolean => snap.get('1.txt')?.content?.includes(wanted) === true;
      const after = await settle(scope.dir, inOne);
      const changed = changedFiles(before, after);
      const expected = `the message saved as 1.txt (numbering starts again at 1 on every connection; ${before.has('1.txt') ? 'a 1.txt from an earlier connection was there' : 'there was no 1.txt yet'})`;
      if (inOne(after) && changed.some((f) => f.name === '1.txt')) {
        return { status: 'pass', sent: sent.text(), expected, seen: `1.txt now holds the message; statuses ${seenText(wire, scope.t)}` };
      }
      const holder = findHolder(changed, wanted);
      const seen = holder
        ? `the message was saved as ${holder.name}, not 1.txt: numbering went on from the earlier connection`
        : `the message is in no k.txt (files written: ${filesText(changed)})`;
      return { status: 'fail', sent: sent.text(), expected, seen: `${seen}; statuses ${seenText(wire, scope.t)}` };
    },
  },
  {
    name: 'overwrite',
    title: "overwrite: a new connection's 1.txt replaces the earlier 1.txt (not appended to it)",
    required: true,
    needsDir: true,
    async run(scope) {
      const lines = scope.run.lines('ow', 1);
      const wanted = body(lines);
      const before = await snapshot(scope.dir);
      const old = before.get('1.txt');
      const expected = `1.txt holding exactly the new message's ${wanted.length} bytes${old ? ` (the earlier 1.txt had ${old.size})` : ''}`;
      const wire = await scope.connect();
      const sent = new Sent();
      await wire.write(encodeMessage(lines));
      sent.add(messageText(lines));
      await wire.waitForBytes(1, scope.t);
      await quit(wire, sent, 1, scope.t);
      const after = await settle(scope.dir, (snap) => snap.get('1.txt')?.content?.equals(wanted) === true);
      const changed = changedFiles(before, after);
      const statuses = `statuses ${seenText(wire, scope.t)}`;
      const now = after.get('1.txt');
      const result = (status: CheckStatus, seen: string, skipReason?: SkipReason): Outcome => ({
        status,
        ...(skipReason ? { skipReason } : {}),
        sent: sent.text(),
        expected,
        seen: `${seen}; ${statuses}`,
      });
      if (!old) {
        return result('skip', `there was no 1.txt from an earlier connection to overwrite (1.txt now: ${now ? `${now.size} bytes` : 'missing'})`, 'not-judged');
      }
      const content = now?.content;
      if (content?.equals(wanted)) return result('pass', `1.txt holds exactly the new ${wanted.length} bytes`);
      if (old.content && content && content.equals(Buffer.concat([old.content, wanted]))) {
        return result('fail', `1.txt holds the earlier ${old.size} bytes with the new message appended (${content.length} bytes)`);
      }
      if (content && content.length > wanted.length && content.subarray(0, wanted.length).equals(wanted)) {
        return result('fail', `1.txt holds the new message, then the rest of the earlier file (${content.length} bytes): written over without truncating`);
      }
      if (!changed.some((f) => f.name === '1.txt')) {
        const holder = findHolder(changed, wanted);
        if (holder) {
          return result('skip', `the message was saved as ${holder.name}, not 1.txt, so 1.txt was not written again (see numbering-restarts)`, 'not-judged');
        }
        return result('fail', `1.txt was not written again and the message is in no k.txt (files written: ${filesText(changed)})`);
      }
      return result('fail', `1.txt: ${content ? firstDifference(wanted, content) : 'gone'}`);
    },
  },
  {
    name: 'quit',
    title: 'status Q for the zero-line message',
    required: true,
    async run(scope) {
      const wire = await scope.connect();
      const sent = new Sent();
      await wire.write(QUIT_MESSAGE);
      sent.add(`${QUIT_TEXT} (the zero-line message, first on the connection)`);
      await wire.waitForBytes(1, scope.t);
      await wire.linger(GRACE_MS);
      return { status: equalsText(wire, 'Q') ? 'pass' : 'fail', sent: sent.text(), expected: 'the one byte Q (0x51)', seen: seenText(wire, scope.t) };
    },
  },
  {
    name: 'close-after-quit',
    title: 'the server closes the connection after Q',
    required: true,
    async run(scope) {
      const wire = await scope.connect();
      const sent = new Sent();
      await wire.write(QUIT_MESSAGE);
      sent.add(QUIT_TEXT);
      const started = Date.now();
      await wire.waitForBytes(1, scope.t);
      const closed = await wire.waitForEnd(scope.t);
      const ms = Date.now() - started;
      const statuses = wire.received === 0 ? 'no status byte' : statusesText(wire.data);
      const seen = closed ? `${statuses}, ${wire.endText()} after ${ms} ms` : `${statuses}, the connection still open after ${scope.t} ms`;
      return { status: closed ? 'pass' : 'fail', sent: sent.text(), expected: `the server closes the connection (within ${scope.t} ms)`, seen };
    },
  },
  {
    name: 'accept',
    title: 'status A for a message',
    required: true,
    async run(scope) {
      const lines = scope.run.lines('accept', 2);
      const wire = await scope.connect();
      const sent = new Sent();
      await wire.write(encodeMessage(lines));
      sent.add(`${messageText(lines)} in one write`);
      await wire.waitForBytes(1, scope.t);
      await wire.linger(EXTRA_MS);
      const answer = Buffer.from(wire.data);
      await quit(wire, sent, answer.length, scope.t);
      const ok = answer.length === 1 && answer[0] === A;
      const seen = answer.length === 0 ? `no byte within ${scope.t} ms, ${wire.endText()}` : `${statusesText(answer)} after the message (all bytes: ${seenText(wire, scope.t)})`;
      return { status: ok ? 'pass' : 'fail', sent: sent.text(), expected: 'the one byte A (0x41) after the message', seen };
    },
  },
  {
    name: 'template-timing',
    title: "the template client's timing: the count sent as 00 00, a pause, then 00 NN",
    required: true,
    async run(scope) {
      const pause = scope.run.pauseMs;
      const lines = scope.run.lines('template', 2);
      const wire = await scope.connect();
      const sent = new Sent();
      await wire.write(Buffer.from([0, 0]));
      await sleep(pause);
      await wire.write(Buffer.from([0, lines.length]));
      sent.add(`[00 00], a ${pause} ms pause, [00 0${lines.length}]`);
      for (const line of lines) {
        await wire.write(Buffer.from(`${line}\n`));
        sent.add(`${quote(`${line}\n`, 60)} (a write per line)`);
      }
      await wire.waitForBytes(1, scope.t);
      await wire.write(Buffer.from([0, 0]));
      await sleep(pause);
      await wire.write(Buffer.from([0, 0]));
      sent.add(`then the quit the same way: [00 00], a ${pause} ms pause, [00 00]`);
      await wire.waitForBytes(2, scope.t);
      await wire.linger(GRACE_MS);
      return {
        status: equalsText(wire, 'AQ') ? 'pass' : 'fail',
        sent: sent.text(),
        expected: 'A after the message, Q after the quit (the server puts each split count back together)',
        seen: seenText(wire, scope.t),
      };
    },
  },
  {
    name: 'one-write',
    title: 'several messages and the quit in one write',
    required: true,
    async run(scope) {
      const msgs = [scope.run.lines('one write, file 1', 1), scope.run.lines('one write, file 2', 2), scope.run.lines('one write, file 3', 3)];
      const wire = await scope.connect();
      await wire.write(Buffer.concat([...msgs.map((m) => encodeMessage(m)), QUIT_MESSAGE]));
      const sent = `one write of ${[...msgs.map(messageText), QUIT_TEXT].join(' ')}`;
      await wire.waitForBytes(4, scope.t);
      await wire.linger(GRACE_MS);
      return { status: equalsText(wire, 'AAAQ') ? 'pass' : 'fail', sent, expected: 'A A A Q', seen: seenText(wire, scope.t) };
    },
  },
  {
    name: 'byte-at-a-time',
    title: 'one byte at a time',
    required: true,
    async run(scope) {
      const msgs = [scope.run.lines('byte by byte', 2), scope.run.lines('byte by byte', 1)];
      const bytes = Buffer.concat([...msgs.map((m) => encodeMessage(m)), QUIT_MESSAGE]);
      const wire = await scope.connect();
      for (const byte of bytes) {
        if (wire.serverGone) break;
        await wire.write(Buffer.from([byte]));
        await sleep(2);
      }
      const sent = `${bytes.length} writes of one byte each, ~2 ms apart: ${[...msgs.map(messageText), QUIT_TEXT].join(' ')}`;
      await wire.waitForBytes(3, scope.t);
      await wire.linger(GRACE_MS);
      return { status: equalsText(wire, 'AAQ') ? 'pass' : 'fail', sent, expected: 'A A Q', seen: seenText(wire, scope.t) };
    },
  },
  {
    name: 'content',
    title: 'line content kept byte for byte (empty lines, \\r, tabs, UTF-8)',
    required: true,
    async run(scope) {
      const [tag] = scope.run.lines('content', 1);
      const lines = ['', 'carriage return at the end\r', '\r', '\ttab\tseparated\t', 'UTF-8: wörld ✓ 日本語 🚀', '  spaces around  ', tag!, ''];
      const wanted = body(lines);
      const before = scope.hasDir ? await snapshot(scope.dir) : undefined;
      const wire = await scope.connect();
      const sent = new Sent();
      await wire.write(encodeMessage(lines));
      sent.add(messageText(lines));
      await wire.waitForBytes(1, scope.t);
      await quit(wire, sent, 1, scope.t);
      const wireOk = equalsText(wire, 'AQ');
      const statuses = `statuses ${seenText(wire, scope.t)}`;
      if (!before) {
        return {
          status: wireOk ? 'pass' : 'fail',
          sent: sent.text(),
          expected: 'A, then Q',
          seen: statuses,
          notes: ['the saved bytes were not compared: give the server folder (--dir) for that'],
        };
      }
      const matches = (snap: Snapshot): FileState | undefined =>
        changedFiles(before, snap).find((f) => f.content !== undefined && savedBytes(f, before.get(f.name)).bytes.equals(wanted));
      const after = await settle(scope.dir, (snap) => matches(snap) !== undefined);
      const exact = matches(after);
      const notes: string[] = [];
      let fileOk = false;
      let fileSeen: string;
      if (exact) {
        fileOk = true;
        const appended = savedBytes(exact, before.get(exact.name)).appended;
        if (appended) notes.push(`the message was appended to the earlier ${exact.name} (see overwrite)`);
        fileSeen = `${exact.name} holds the ${wanted.length} bytes exactly`;
      } else {
        const written = changedFiles(before, after).filter((f) => f.size > 0);
        const first = written[0];
        fileSeen = first
          ? `${first.name} (${first.size} bytes) differs: ${firstDifference(wanted, savedBytes(first, before.get(first.name)).bytes)}`
          : 'no k.txt was written';
      }
      return {
        status: wireOk && fileOk ? 'pass' : 'fail',
        sent: sent.text(),
        expected: `A, then Q; the file holds exactly these ${wanted.length} bytes`,
        seen: `${fileSeen}; ${statuses}`,
        notes,
      };
    },
  },

  // ------------------------------------------------------------ beyond the handout (optional)
  {
    name: 'vanish-mid-message',
    title: 'a client vanishing mid-message: no A, no partial file, the server keeps serving',
    required: false,
    async run(scope) {
      const before = scope.hasDir ? await snapshot(scope.dir) : undefined;
      const wire = await scope.connect();
      const partial = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from(`cut short [${scope.run.nonce}]\nsecond li`)]);
      const sent = new Sent();
      await wire.write(partial);
      sent.add(`[00 00 00 03] ${quote(partial.subarray(4))} (2 of the 3 lines, the second cut short), then the checker closed the connection`);
      await wire.linger(100);
      const answer = Buffer.from(wire.data);
      wire.destroy();
      await sleep(200);
      const left = await filesLeft(scope, before);
      const serving = await keepsServing(scope, sent);
      const problems: string[] = [];
      if (answer.includes(A)) problems.push('the cut message was answered A');
      if (left.length > 0) problems.push(`a partial file was saved: ${filesText(left)}`);
      if (!serving.ok) problems.push('the server stopped serving');
      const seen = [
        `answer to the cut message: ${statusesText(answer)}`,
        before ? `files written: ${filesText(left)}` : 'files not looked at (no --dir)',
        serving.seen,
      ].join('; ');
      return {
        status: problems.length === 0 ? 'pass' : 'fail',
        sent: sent.text(),
        expected: `no A for the cut message${before ? ', no k.txt written' : ''}; then a new connection is served (A, Q)`,
        seen,
        notes: problems,
      };
    },
  },
  {
    name: 'junk-bytes',
    title: 'junk bytes (an HTTP request): never A, nothing saved, the server keeps serving',
    required: false,
    async run(scope) {
      const before = scope.hasDir ? await snapshot(scope.dir) : undefined;
      const wire = await scope.connect();
      const junk = Buffer.from('GET / HTTP/1.0\r\n\r\n');
      const sent = new Sent();
      await wire.write(junk);
      sent.add(`${quote(junk)} (read as the count ${hex(junk.subarray(0, 4))} = ${junk.readUInt32BE(0)} lines), ${WATCH_MS} ms of watching, then the checker closed the connection`);
      await wire.waitForEnd(Math.min(scope.t, WATCH_MS));
      const answer = Buffer.from(wire.data);
      const reaction = seenText(wire, Math.min(scope.t, WATCH_MS));
      wire.destroy();
      await sleep(100);
      const left = await filesLeft(scope, before);
      const serving = await keepsServing(scope, sent);
      const problems: string[] = [];
      if (answer.includes(A)) problems.push('the junk was answered A');
      if (left.length > 0) problems.push(`a file was saved: ${filesText(left)}`);
      if (!serving.ok) problems.push('the server stopped serving');
      return {
        status: problems.length === 0 ? 'pass' : 'fail',
        sent: sent.text(),
        expected: 'never A (R and a close, a close, or waiting are all fine); nothing saved; a new connection is served (A, Q)',
        seen: [`reaction: ${reaction}`, before ? `files written: ${filesText(left)}` : 'files not looked at (no --dir)', serving.seen].join('; '),
        notes: problems,
      };
    },
  },
  {
    name: 'huge-count',
    title: 'a huge count (0xFFFFFFFF lines): never A, the server keeps serving',
    required: false,
    async run(scope) {
      const wire = await scope.connect();
      const bytes = Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from('one line\n')]);
      const sent = new Sent();
      await wire.write(bytes);
      sent.add(`[ff ff ff ff] "one line\\n", ${WATCH_MS} ms of watching, then the checker closed the connection`);
      await wire.waitForEnd(Math.min(scope.t, WATCH_MS));
      const answer = Buffer.from(wire.data);
      const reaction = seenText(wire, Math.min(scope.t, WATCH_MS));
      wire.destroy();
      await sleep(100);
      const serving = await keepsServing(scope, sent);
      const problems: string[] = [];
      if (answer.includes(A)) problems.push('the huge count was answered A');
      if (!serving.ok) problems.push('the server stopped serving');
      return {
        status: problems.length === 0 ? 'pass' : 'fail',
        sent: sent.text(),
        expected: 'never A (linedrop answers R and closes; waiting is fine too); a new connection is served (A, Q)',
        seen: `reaction: ${reaction}; ${serving.seen}`,
        notes: problems,
      };
    },
  },
  {
    name: 'concurrent-clients',
    title: 'several clients at once: a client stopped mid-message does not hold up another',
    required: false,
    async run(scope) {
      const first = scope.run.lines('slow client', 2);
      const second = scope.run.lines('second client', 1);
      const slow = await scope.connect();
      const firstBytes = encodeMessage(first);
      const cut = 4 + Buffer.byteLength(`${first[0]}\n`);
      const sent = new Sent();
      await slow.write(firstBytes.subarray(0, cut));
      sent.add(`client 1: [00 00 00 02] ${quote(`${first[0]}\n`, 60)} (half its message)`);
      await sleep(50);
      let fast: Wire | undefined;
      try {
        fast = await scope.connect(false);
      } catch (e) {
        if (!(e instanceof Unreachable)) throw e;
      }
      if (fast) {
        await fast.write(Buffer.concat([encodeMessage(second), QUIT_MESSAGE]));
        sent.add(`client 2, meanwhile: ${messageText(second)} ${QUIT_TEXT}`);
        await fast.waitForBytes(2, scope.t);
        await fast.linger(GRACE_MS);
      }
      const fastSeen = fast ? seenText(fast, scope.t) : 'the connection was refused';
      await slow.write(firstBytes.subarray(cut));
      sent.add(`client 1: the rest, ${quote(`${first[1]}\n`, 60)}, then ${QUIT_TEXT}`);
      await slow.waitForBytes(1, scope.t);
      await quit(slow, new Sent(), 1, scope.t);
      const ok = fast !== undefined && equalsText(fast, 'AQ') && equalsText(slow, 'AQ');
      return {
        status: ok ? 'pass' : 'fail',
        sent: sent.text(),
        expected: 'client 2 answered A, Q while client 1 is mid-message; then client 1 answered A, Q',
        seen: `client 2: ${fastSeen}; client 1: ${seenText(slow, scope.t)}`,
      };
    },
  },
];

/** The checks `checkServer` runs, in order. */
export const SERVER_CHECKS: readonly { name: string; title: string; required: boolean; needsDir: boolean }[] = CHECKS.map((c) => ({
  name: c.name,
  title: c.title,
  required: c.required,
  needsDir: c.needsDir === true,
}));

const SKIP_TEXT: Record<SkipReason, string> = {
  'needs-dir': 'not run: needs the server folder (--dir)',
  unreachable: 'not run (server not reachable; needs a restart)',
  'not-selected': 'not run: not selected',
  quick: 'not run: beyond the handout, left out by --quick',
  'not-judged': 'not judged',
  interrupted: 'not run: the run was interrupted',
};

export function skipText(reason: SkipReason): string {
  return SKIP_TEXT[reason];
}

/**
 * Checks a server written by anyone against the handout's rules (and, reported separately,
 * robustness beyond them). Each check uses its own connection(s). Never throws for what the
 * server does; the report says it.
 */
export async function checkServer(options: CheckServerOptions): Promise<CheckReport> {
  const started = Date.now();
  const run = new Run(options);
  const only = options.only ? new Set(options.only) : undefined;
  if (only) {
    const unknown = [...only].filter((n) => !CHECKS.some((c) => c.name === n));
    if (unknown.length > 0) throw new RangeError(`unknown check(s): ${unknown.join(', ')}; the checks are ${CHECKS.map((c) => c.name).join(', ')}`);
  }
  const results: CheckResult[] = [];
  let gone = false;
  let lastRan: string | null = null;
  let serverGoneAfter: string | null = null;
  let error: string | undefined;

  const emit = (def: CheckDef, outcome: Outcome, connections: number, ms: number, talk?: Conversation): void => {
    const result: CheckResult = {
      name: def.name,
      title: def.title,
      required: def.required,
      status: outcome.status,
      ...(outcome.skipReason ? { skipReason: outcome.skipReason } : {}),
      sent: outcome.sent,
      expected: outcome.expected,
      seen: outcome.seen,
      notes: outcome.notes ?? [],
      connections,
      ms,
      conversation: talk?.events ?? [],
    };
    results.push(result);
    options.onResult?.(result);
  };
  const skip = (def: CheckDef, reason: SkipReason): void =>
    emit(def, { status: 'skip', skipReason: reason, sent: 'nothing', expected: '-', seen: SKIP_TEXT[reason] }, 0, 0);

  let current: Scope | undefined;
  const interrupt = (): void => {
    if (current) {
      current.cancelled = true;
      current.close();
    }
    void run.proc?.stop();
  };
  options.signal?.addEventListener('abort', interrupt, { once: true });
  try {
    for (const def of CHECKS) {
      if (options.signal?.aborted) skip(def, 'interrupted');
      else if (only && !only.has(def.name)) skip(def, 'not-selected');
      else if (options.quick && !def.required) skip(def, 'quick');
      else if (def.needsDir && options.dir === undefined) skip(def, 'needs-dir');
      else if (gone) skip(def, 'unreachable');
      else {
        const t0 = Date.now();
        let outcome: Outcome | undefined;
        let connections = 0;
        const talk = new Conversation();
        for (let attempt = 0; attempt < 2; attempt++) {
          if (attempt > 0) talk.note('the first connection was closed before the server sent a byte: the check runs once more');
          const scope = new Scope(run, talk);
          current = scope;
          try {
            outcome = await capped(def.run(scope), hardLimit(run), scope, options.signal);
          } catch (e) {
            if (e instanceof Unreachable) {
              outcome = undefined;
              gone = true;
              if (!run.connectedOnce) error = e.message;
              else {
                serverGoneAfter ??= lastRan;
                // A restart was tried and failed: say why.
                if (run.proc) error = e.message;
              }
            } else if (e instanceof Cancelled || options.signal?.aborted) {
              outcome = options.signal?.aborted ? undefined : { status: 'fail', sent: 'see the check', expected: 'the check to finish', seen: `the check did not finish within ${hardLimit(run)} ms` };
            } else {
              throw e;
            }
          } finally {
            scope.close();
            connections += scope.wires.length;
          }
          // The server closed the check's first connection before sending a byte: it may have been
          // on its way out after the previous check (a one-connection server still finishing).
          // Try once more, on a new connection (restarting the server if it is gone and can be).
          if (outcome?.status === 'fail' && scope.silentlyClosed && attempt === 0) {
            await sleep(200);
            continue;
          }
          break;
        }
        current = undefined;
        if (options.signal?.aborted) skip(def, 'interrupted');
        else if (outcome) {
          emit(def, outcome, connections, Date.now() - t0, talk);
          lastRan = def.name;
        } else {
          skip(def, 'unreachable');
        }
      }
    }
  } finally {
    options.signal?.removeEventListener('abort', interrupt);
    await run.proc?.stop();
  }

  const count = (required: boolean, status: CheckStatus): number => results.filter((r) => r.required === required && r.status === status).length;
  const counts = (required: boolean): StatusCounts => ({
    passed: count(required, 'pass'),
    failed: count(required, 'fail'),
    skipped: count(required, 'skip'),
    notApplicable: count(required, 'not-applicable'),
  });
  const firstFailure = [...results.filter((r) => r.required), ...results.filter((r) => !r.required)].find((r) => r.status === 'fail' && r.causedBy === undefined);
  const needRestart = results.filter((r) => r.skipReason === 'unreachable').map((r) => r.name);
  const requiredFailed = count(true, 'fail');
  const reachable = run.connectedOnce || needRestart.length === 0;
  const interrupted = results.some((r) => r.skipReason === 'interrupted');
  const requiredNotRun = results.some((r) => r.required && (r.skipReason === 'unreachable' || r.skipReason === 'interrupted'));
  const exitCode: 0 | 1 | 3 = !reachable ? 3 : requiredFailed > 0 || requiredNotRun ? 1 : 0;
  const report: CheckReport = {
    target: { host: options.host, port: options.port },
    dir: options.dir ?? null,
    options: { timeoutMs: run.timeoutMs, pauseMs: run.pauseMs, quick: options.quick === true, restartCmd: options.restartCmd ?? null },
    startedAt: new Date(started).toISOString(),
    ms: Date.now() - started,
    checks: results,
    summary: {
      required: counts(true),
      optional: counts(false),
      firstFailure: firstFailure?.name ?? null,
      needRestart,
      serverGoneAfter: run.connectedOnce ? serverGoneAfter : null,
      restarts: run.proc?.starts ?? 0,
      reachable,
      interrupted,
      exitCode,
    },
  };
  if (error !== undefined) report.error = error;
  else if (!reachable && run.lastConnectError) report.error = `cannot connect to ${formatAddress(options.host, options.port)} (${run.lastConnectError})`;
  return report;
}

/** A generous hard limit for one check: every wait is bounded by the timeout, this only guards against surprises. */
function hardLimit(run: Run): number {
  return run.timeoutMs * 8 + run.pauseMs * 2 + run.startupMs + 5000;
}

async function capped(work: Promise<Outcome>, ms: number, scope: Scope, signal: AbortSignal | undefined): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const limit = new Promise<never>((_, reject) => {
    const stop = (why: string): void => {
      scope.cancelled = true;
      scope.close();
      reject(new Cancelled(why));
    };
    timer = setTimeout(() => stop(`over ${ms} ms`), ms);
    onAbort = () => stop('interrupted');
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    // A check that was cut off may still be winding down: its rejection is not needed.
    work.catch(() => undefined);
  }
}

