// Robustness beyond the handout (optional checks): clients that vanish, junk, a huge count,
// several clients at once.
import { encodeMessage, QUIT_MESSAGE } from '../../protocol/encoder.js';
import { STATUS_ACCEPTED } from '../../protocol/status.js';
import { ServerUnreachableError, type CheckDef, type Outcome, type Scope } from '../engine.js';
import { hex, messageText, quote, QUIT_TEXT, statusesText } from '../format.js';
import { filesText, snapshot } from '../snapshot.js';
import { sleep } from '../../text.js';
import type { Wire } from '../wire.js';
import {
  afterVanish,
  filesLeft,
  GRACE_MS,
  judge,
  quit,
  seenText,
  Sent,
  servesOneConnection,
  WATCH_MS,
  type AfterVanish,
} from './helpers.js';

const A = STATUS_ACCEPTED;

/** The outcome of a robustness check: what went wrong, and whether the server looked stuck afterwards. */
function verdict(
  problems: string[],
  serving: AfterVanish,
  fields: { sent: string; expected: string; seen: string },
): Outcome {
  if (!serving.ok) problems.push(serving.stuck ? serving.seen : 'the server stopped serving');
  return {
    status: problems.length === 0 ? 'pass' : 'fail',
    ...fields,
    notes: problems,
    ...(serving.stuck ? { fault: 'stuck' } : {}),
  };
}

/** Sends `bytes`, watches the reaction for up to WATCH_MS, then the checker closes (FIN: the client vanishes). */
async function sendAndVanish(scope: Scope, bytes: Buffer): Promise<{ answer: Buffer; reaction: string }> {
  const wire = await scope.connect();
  await wire.write(bytes);
  const watch = Math.min(scope.t, WATCH_MS);
  await wire.waitForEnd(watch);
  const answer = Buffer.from(wire.data);
  const reaction = seenText(wire, watch);
  wire.destroy();
  await sleep(100);
  return { answer, reaction };
}

export const ROBUSTNESS_CHECKS: CheckDef[] = [
  {
    name: 'vanish-mid-message',
    title: 'a client vanishing mid-message: no A, no partial file, the server keeps serving',
    required: false,
    async run(scope) {
      const before = scope.hasDir ? await snapshot(scope.dir) : undefined;
      const wire = await scope.connect();
      const partial = Buffer.concat([
        Buffer.from([0, 0, 0, 3]),
        Buffer.from(`cut short [${scope.run.nonce}]\nsecond li`),
      ]);
      const sent = new Sent();
      await wire.write(partial);
      sent.add(
        `[00 00 00 03] ${quote(partial.subarray(4))} (2 of the 3 lines, the second cut ` +
          `short), then the checker closed the connection`,
      );
      await wire.linger(100);
      const answer = Buffer.from(wire.data);
      wire.destroy();
      await sleep(200);
      const left = await filesLeft(scope, before);
      const serving = await afterVanish(scope, sent, 'the client vanished mid-message');
      const problems: string[] = [];
      if (answer.includes(A)) problems.push('the cut message was answered A');
      if (left.length > 0) problems.push(`a partial file was saved: ${filesText(left)}`);
      const seen = [
        `answer to the cut message: ${statusesText(answer)}`,
        before ? `files written: ${filesText(left)}` : 'files not looked at (no --dir)',
        serving.seen,
      ].join('; ');
      return verdict(problems, serving, {
        sent: sent.text(),
        expected:
          `no A for the cut message${before ? ', no k.txt written' : ''}; then the server ` +
          `exits (a lab server) or serves a new connection (A, Q)`,
        seen,
      });
    },
  },
  {
    name: 'junk-bytes',
    title: 'junk bytes (an HTTP request): never A, nothing saved, the server keeps serving',
    required: false,
    async run(scope) {
      const before = scope.hasDir ? await snapshot(scope.dir) : undefined;
      const junk = Buffer.from('GET / HTTP/1.0\r\n\r\n');
      const sent = new Sent();
      sent.add(
        `${quote(junk)} (read as the count ${hex(junk.subarray(0, 4))} = ${junk.readUInt32BE(0)} ` +
          `lines), ${WATCH_MS} ms of watching, then the checker closed the connection`,
      );
      const { answer, reaction } = await sendAndVanish(scope, junk);
      const left = await filesLeft(scope, before);
      const serving = await afterVanish(scope, sent, 'the client sent junk and vanished');
      const problems: string[] = [];
      if (answer.includes(A)) problems.push('the junk was answered A');
      if (left.length > 0) problems.push(`a file was saved: ${filesText(left)}`);
      return verdict(problems, serving, {
        sent: sent.text(),
        expected:
          'never A (R and a close, a close, or waiting are all fine); nothing saved; then the ' +
          'server exits (a lab server) or serves a new connection (A, Q)',
        seen: [
          `reaction: ${reaction}`,
          before ? `files written: ${filesText(left)}` : 'files not looked at (no --dir)',
          serving.seen,
        ].join('; '),
      });
    },
  },
  {
    name: 'huge-count',
    title: 'a huge count (0xFFFFFFFF lines): never A, the server keeps serving',
    required: false,
    async run(scope) {
      const bytes = Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from('one line\n')]);
      const sent = new Sent();
      sent.add(`[ff ff ff ff] "one line\\n", ${WATCH_MS} ms of watching, then the checker closed the connection`);
      const { answer, reaction } = await sendAndVanish(scope, bytes);
      const serving = await afterVanish(scope, sent, 'the client sent a huge count and vanished');
      const problems: string[] = [];
      if (answer.includes(A)) problems.push('the huge count was answered A');
      return verdict(problems, serving, {
        sent: sent.text(),
        expected:
          'never A (linedrop answers R and closes; waiting is fine too); then the server ' +
          'exits (a lab server) or serves a new connection (A, Q)',
        seen: `reaction: ${reaction}; ${serving.seen}`,
      });
    },
  },
  {
    name: 'concurrent-clients',
    title: 'several clients at once: a client stopped mid-message does not hold up another',
    required: false,
    async run(scope) {
      const expected = 'client 2 answered A, Q while client 1 is mid-message; then client 1 answered A, Q';
      const notApplicable = (sent: string, seen: string): Outcome => ({
        status: 'not-applicable',
        sent,
        expected,
        seen:
          `${seen}the server serves one connection and exits (as the lab's does), so several ` +
          `clients at once cannot apply`,
      });
      if (scope.run.knownSingle) return notApplicable('nothing', '');
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
        if (!(e instanceof ServerUnreachableError)) throw e;
      }
      if (fast) {
        await fast.write(Buffer.concat([encodeMessage(second), QUIT_MESSAGE]));
        sent.add(`client 2, meanwhile: ${messageText(second)} ${QUIT_TEXT}`);
        await fast.waitForStatuses(2, scope.t);
        await fast.linger(GRACE_MS);
      }
      const fastSeen = fast ? seenText(fast, scope.t) : 'the connection was refused';
      await slow.write(firstBytes.subarray(cut));
      sent.add(`client 1: the rest, ${quote(`${first[1]}\n`, 60)}, then ${QUIT_TEXT}`);
      await slow.waitForStatuses(1, scope.t);
      await quit(slow, new Sent(), 1, scope.t);
      const seen = `client 2: ${fastSeen}; client 1: ${seenText(slow, scope.t)}`;
      const ok = fast !== undefined && judge(fast, 'AQ').ok && judge(slow, 'AQ').ok;
      if (!ok && (await servesOneConnection(scope))) return notApplicable(sent.text(), `${seen}; `);
      return { status: ok ? 'pass' : 'fail', sent: sent.text(), expected, seen };
    },
  },
];
