// What the checks share: the record of what was sent, judging status bytes, the quit, reading
// the server's folder, and what a server must do after a client vanished.
import { readdirSync } from 'node:fs';
import { encodeMessage, QUIT_MESSAGE } from '../../protocol/encoder.js';
import { ServerUnreachableError, type Scope } from '../engine.js';
import { firstDifference, hex, messageText, statusesText, statusText, QUIT_TEXT } from '../format.js';
import { snapshot, changedFiles, type FileState, type Snapshot } from '../snapshot.js';
import { formatDuration, sleep } from '../../text.js';
import type { Wire } from '../wire.js';

/** After the last expected byte: how long to wait for the server to close before closing ourselves. */
export const GRACE_MS = 200;
/** After a message's status: how long to wait for stray extra bytes. */
export const EXTRA_MS = 50;
/** How long the robustness checks watch the server's reaction to what they sent. */
export const WATCH_MS = 1000;

/** Bytes a server may wrongly put after a status (`A\n`). */
const FILLER = new Set([0x0a, 0x0d, 0x20, 0x00]);

/** A check's list of what it sent, in order. */
export class Sent {
  private readonly steps: string[] = [];
  add(step: string): this {
    this.steps.push(step);
    return this;
  }
  text(): string {
    return this.steps.join(', ');
  }
}

export function body(lines: readonly string[]): Buffer {
  return encodeMessage(lines).subarray(4);
}

/** Status bytes seen on a connection, and how it ended: `A Q, then the server closed the connection`. */
export function seenText(wire: Wire, t: number): string {
  const statuses = wire.received === 0 ? `no byte within ${t} ms` : statusesText(wire.data);
  return `${statuses}, ${wire.endText()}`;
}

export interface Judged {
  ok: boolean;
  /** The fault's key when it is one that shows in many checks (see Outcome.fault). */
  fault?: string;
  /** A sentence on that fault, for the notes. */
  why?: string;
}

/**
 * Compares the status bytes a connection received with the expected letters (`'AAQ'`), and
 * names the faults that show the same way in every check: an extra byte after each status, no
 * Q, no answer at all.
 */
export function judgeStatuses(received: Buffer, expected: string): Judged {
  const got = received.toString('latin1');
  if (got === expected) return { ok: true };
  const extras = [...received].filter((b) => FILLER.has(b));
  const letters = Buffer.from([...received].filter((b) => !FILLER.has(b))).toString('latin1');
  const extraHex = [...new Set(extras)].map((b) => b.toString(16).padStart(2, '0')).join('-');
  if (expected.endsWith('Q') && !letters.includes('Q') && letters === expected.slice(0, -1)) {
    return { ok: false, fault: 'no-q', why: 'every message was answered, but the zero-line message got no Q' };
  }
  if (received.length === 0) return { ok: false, fault: 'no-answer', why: 'the server sent no byte at all' };
  const wrong = wrongForA(letters, expected);
  if (wrong !== undefined) {
    return {
      ok: false,
      fault: `status-for-A-${wrong.toString(16).padStart(2, '0')}`,
      why: `each message was answered ${statusText(wrong)} instead of A (0x41)`,
    };
  }
  if (letters === expected && extras.length > 0) {
    return {
      ok: false,
      fault: `extra-byte-${extraHex}`,
      why:
        `a status is followed by ${extras.length === 1 ? 'an extra byte' : 'extra bytes'} ` +
        `(${hex(Buffer.from(extras))}): the server must send the one status byte only`,
    };
  }
  return { ok: false };
}

/** The one byte a server sends in place of every A, when that is the only difference. */
function wrongForA(letters: string, expected: string): number | undefined {
  if (letters.length !== expected.length || !expected.includes('A')) return undefined;
  let wrong: number | undefined;
  for (let i = 0; i < expected.length; i++) {
    if (letters[i] === expected[i]) continue;
    const code = letters.charCodeAt(i);
    if (expected[i] !== 'A' || (wrong !== undefined && wrong !== code)) return undefined;
    wrong = code;
  }
  return wrong;
}

/** Judges a whole connection's bytes against the expected statuses. */
export function judge(wire: Wire, expected: string): Judged {
  return judgeStatuses(Buffer.from(wire.data), expected);
}

/** The outcome's fields for a judged status sequence: `fault` and a note, when there are. */
export function faultFields(j: Judged): { fault?: string; notes: string[] } {
  return { ...(j.fault ? { fault: j.fault } : {}), notes: j.why ? [j.why] : [] };
}

/** Sends the quit message, waits for its status and for the server to close (briefly). */
export async function quit(wire: Wire, sent: Sent, statusesBefore: number, t: number): Promise<void> {
  await wire.write(QUIT_MESSAGE);
  sent.add(QUIT_TEXT);
  await wire.waitForStatuses(statusesBefore + 1, t);
  await wire.linger(GRACE_MS);
}

/** On a new connection: one message, its status, then the quit (the commonest conversation of the checks). */
export async function oneMessageThenQuit(scope: Scope, lines: readonly string[]): Promise<{ wire: Wire; sent: Sent }> {
  const wire = await scope.connect();
  const sent = new Sent();
  await wire.write(encodeMessage(lines));
  sent.add(messageText(lines));
  await wire.waitForStatuses(1, scope.t);
  await quit(wire, sent, 1, scope.t);
  return { wire, sent };
}

/**
 * The bytes the server saved for a message in `file`: the whole file, or, when the file is the
 * earlier file with bytes added at its end, only the added bytes (appending is the overwrite
 * check's business; the others judge what was saved for their own message).
 */
export function savedBytes(file: FileState, before: FileState | undefined): { bytes: Buffer; appended: boolean } {
  const now = file.content ?? Buffer.alloc(0);
  const was = before?.content;
  if (was && was.length > 0 && now.length > was.length && now.subarray(0, was.length).equals(was)) {
    return { bytes: now.subarray(was.length), appended: true };
  }
  return { bytes: now, appended: false };
}

/**
 * Reads the folder until `done` says the server's files are in place, at most ~500 ms (the A-before-stored check judges
 * timing).
 */
export async function settle(dir: string, done: (snap: Snapshot) => boolean): Promise<Snapshot> {
  let snap = await snapshot(dir);
  for (let i = 0; i < 5 && !done(snap); i++) {
    await sleep(100);
    snap = await snapshot(dir);
  }
  return snap;
}

/** How the bytes saved for a message differ from it, naming the common flaws plainly. */
export function savedText(wanted: Buffer, saved: Buffer): string {
  if (saved.length === 0) return 'nothing was saved in it (the file is empty)';
  const crlf = Buffer.from(wanted.toString('latin1').replaceAll('\n', '\r\n'), 'latin1');
  if (saved.equals(crlf)) return 'every \\n was saved as \\r\\n (Windows line ends): save the bytes as they arrived';
  return firstDifference(wanted, saved);
}

/**
 * Files in the folder whose names hold a backslash: a Windows path (`C:\\Users\\x\\1.txt`) written as one file name.
 */
export function windowsNames(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => n.includes('\\'));
  } catch {
    return [];
  }
}

/** Why a message is in no k.txt, in words: a Windows path, or nothing saved at all. */
export function notSavedText(dir: string, changed: readonly FileState[]): string {
  const windows = windowsNames(dir);
  if (windows.length > 0) {
    return (
      `the server wrote ${windows.map((n) => JSON.stringify(n)).join(', ')}: a file name with ` +
      `backslashes (a Windows path), which Linux keeps as one name; build the name with os.path.join or just "k.txt"`
    );
  }
  return changed.length === 0
    ? 'nothing was saved: no k.txt in the folder changed'
    : `the message is in no k.txt (files written: ${changed.map((f) => f.name).join(', ')})`;
}

/** `message 1 saved as 0.txt, not 1.txt`, with the flaw named when the numbering starts at 0. */
export function misnumberedText(message: number, holder: string): string {
  const zero = holder === `${message - 1}.txt`;
  return (
    `message ${message} saved as ${holder}, not ` +
    `${message}.txt${zero ? ': the files are numbered from 0.txt, the handout numbers them from 1.txt' : ''}`
  );
}

/** Where a message's bytes went among the files that changed, if anywhere. */
export function findHolder(changed: readonly FileState[], wanted: Buffer): FileState | undefined {
  return changed.find((f) => f.content?.includes(wanted));
}

/** With a folder: the non-empty k.txt files a connection left behind (a partial file is a fault). */
export async function filesLeft(scope: Scope, before: Snapshot | undefined): Promise<FileState[]> {
  if (!before) return [];
  await sleep(100);
  return changedFiles(before, await snapshot(scope.dir)).filter((f) => f.size > 0);
}

export interface AfterVanish {
  ok: boolean;
  /** False for a server that serves one connection and exited: "keeps serving" cannot apply. */
  applicable: boolean;
  seen: string;
  /** The server looks stuck: it was stopped (with a restart command) or the run cannot go on. */
  stuck?: boolean;
}

/**
 * What a server must do once a client vanished (closed mid-message, or after junk): a lab server
 * that serves one connection exits; any other keeps serving, so a new connection is answered A,
 * then Q. No answer there within the timeout while the server still runs: it looks stuck.
 * Closes the check's earlier connections first.
 */
export async function afterVanish(scope: Scope, sent: Sent, what: string): Promise<AfterVanish> {
  scope.close();
  const { run } = scope;
  const proc = run.proc;
  const exitedText =
    'the server then exited (it serves one connection, as the lab server does), so ' +
    'whether it keeps serving does not apply';
  if (proc?.started && !run.knownMulti && (await proc.waitGone(Math.min(scope.t, 1000)))) {
    run.knownSingle = true;
    return { ok: true, applicable: false, seen: exitedText };
  }
  let wire: Wire;
  try {
    wire = await scope.connect(false);
  } catch (e) {
    if (!(e instanceof ServerUnreachableError)) throw e;
    if (run.knownSingle) return { ok: true, applicable: false, seen: exitedText };
    return { ok: false, applicable: true, seen: 'the next connection was refused: the server stopped serving' };
  }
  const lines = run.lines('still serving?', 1);
  sent.add(`then a new connection: ${messageText(lines)}`);
  await wire.write(encodeMessage(lines));
  const answered = await wire.waitForStatuses(1, scope.t);
  if (!answered && !wire.serverGone) {
    const why = `no answer for ${formatDuration(scope.t)} after ${what}: the server looks stuck`;
    run.stuck = why;
    return { ok: false, applicable: true, stuck: true, seen: why };
  }
  await quit(wire, sent, 1, scope.t);
  const j = judge(wire, 'AQ');
  if (!j.ok && wire.received === 0 && run.knownSingle) {
    // A one-connection server on its way out reset the connection it had not accepted.
    return { ok: true, applicable: false, seen: exitedText };
  }
  return { ok: j.ok, applicable: true, seen: `the next connection: ${seenText(wire, scope.t)}` };
}

/**
 * Whether the server serves one connection: known already, or seen now (the checker's server
 * exits once the check's connections are closed). Closes the check's connections.
 */
export async function servesOneConnection(scope: Scope): Promise<boolean> {
  const { run } = scope;
  if (run.knownSingle) return true;
  scope.close();
  if (run.proc?.started && !run.knownMulti && (await run.proc.waitGone(Math.min(scope.t, 1000)))) {
    run.knownSingle = true;
    return true;
  }
  return false;
}
