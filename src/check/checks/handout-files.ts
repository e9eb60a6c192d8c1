// The handout's rules on the files: k.txt numbering, its restart per connection, overwriting,
// and A meaning "stored". These checks need the server's folder (--dir).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { encodeMessage } from '../../protocol/encoder.js';
import { STATUS_ACCEPTED } from '../../protocol/status.js';
import type { CheckDef, Outcome } from '../engine.js';
import { messageText } from '../format.js';
import { changedFiles, filesText, snapshot, type Snapshot } from '../snapshot.js';
import type { CheckStatus, SkipReason } from '../types.js';
import {
  body,
  findHolder,
  misnumberedText,
  notSavedText,
  oneMessageThenQuit,
  quit,
  savedBytes,
  savedText,
  seenText,
  Sent,
  settle,
} from './helpers.js';

/** Files read at the moment of an A are at most this big (the checker's messages are tiny). */
const MAX_READ_AT_ANSWER = 1024 * 1024;

/** The k.txt holding `wanted` right now, read synchronously: `name` first, then any other. */
function holderNow(dir: string, name: string, wanted: Buffer): { holder?: string; named: string } {
  const read = (file: string): Buffer | undefined => {
    try {
      const path = join(dir, file);
      if (statSync(path).size > MAX_READ_AT_ANSWER) return undefined;
      return readFileSync(path);
    } catch {
      return undefined;
    }
  };
  const own = read(name);
  const named = own === undefined ? `${name} did not exist` : `${name} held ${own.length} bytes`;
  if (own?.includes(wanted)) return { holder: name, named };
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => /^\d+\.txt$/.test(n) && n !== name);
  } catch {
    // The folder is missing: nothing is stored.
  }
  const other = names.find((n) => read(n)?.includes(wanted));
  return other === undefined ? { named } : { holder: other, named };
}

export const FILE_CHECKS: CheckDef[] = [
  {
    name: 'numbering',
    title: "k.txt numbering: a connection's messages are saved as 1.txt, 2.txt, 3.txt, byte for byte",
    required: true,
    needsDir: true,
    async run(scope) {
      const msgs = [
        scope.run.lines('numbering, file 1', 2),
        scope.run.lines('numbering, file 2', 1),
        scope.run.lines('numbering, file 3', 3),
      ];
      const bodies = msgs.map(body);
      const names = ['1.txt', '2.txt', '3.txt'];
      const before = await snapshot(scope.dir);
      const wire = await scope.connect();
      const sent = new Sent();
      for (const [i, m] of msgs.entries()) {
        await wire.write(encodeMessage(m));
        sent.add(messageText(m));
        await wire.waitForStatuses(i + 1, scope.t);
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
      let fault: string | undefined;
      for (const [i, name] of names.entries()) {
        const file = after.get(name);
        const wanted = bodies[i]!;
        const elsewhere = findHolder(changed, wanted);
        if (elsewhere && elsewhere.name !== name && file?.content?.includes(wanted) !== true) {
          ok = false;
          fault ??= 'numbering-continues';
          parts.push(misnumberedText(i + 1, elsewhere.name));
          continue;
        }
        if (!file || !changed.includes(file)) {
          ok = false;
          const holder = findHolder(changed, wanted);
          fault ??= holder ? 'numbering-continues' : 'not-saved';
          parts.push(
            holder ? misnumberedText(i + 1, holder.name) : `${name} not written: ${notSavedText(scope.dir, changed)}`,
          );
          continue;
        }
        const saved = savedBytes(file, before.get(name));
        if (saved.appended) notes.push(`${name}: the message was appended to the earlier ${name} (see overwrite)`);
        if (saved.bytes.equals(wanted)) {
          parts.push(`${name}: message ${i + 1}, exactly (${wanted.length} bytes)`);
        } else {
          ok = false;
          parts.push(`${name}: not message ${i + 1} (${savedText(wanted, saved.bytes)})`);
        }
      }
      return {
        status: ok ? 'pass' : 'fail',
        sent: sent.text(),
        expected:
          `1.txt, 2.txt and 3.txt holding exactly the three messages' lines ` +
          `(${bodies.map((b) => b.length).join(', ')} bytes)`,
        seen: `${parts.join('; ')}; statuses ${seenText(wire, scope.t)}`,
        notes,
        ...(fault && !ok ? { fault } : {}),
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
      const { wire, sent } = await oneMessageThenQuit(scope, lines);
      const inOne = (snap: Snapshot): boolean => snap.get('1.txt')?.content?.includes(wanted) === true;
      const after = await settle(scope.dir, inOne);
      const changed = changedFiles(before, after);
      const expected =
        `the message saved as 1.txt (numbering starts again at 1 on every ` +
        `connection; ${before.has('1.txt') ? 'a 1.txt from an earlier connection was there' : 'there was no 1.txt yet'})`;
      if (inOne(after) && changed.some((f) => f.name === '1.txt')) {
        return {
          status: 'pass',
          sent: sent.text(),
          expected,
          seen: `1.txt now holds the message; statuses ${seenText(wire, scope.t)}`,
        };
      }
      const holder = findHolder(changed, wanted);
      const seen = holder
        ? holder.name === '0.txt'
          ? misnumberedText(1, holder.name)
          : `the message was saved as ${holder.name}, not 1.txt: numbering went on from the earlier connection`
        : notSavedText(scope.dir, changed);
      return {
        status: 'fail',
        sent: sent.text(),
        expected,
        seen: `${seen}; statuses ${seenText(wire, scope.t)}`,
        fault: holder ? 'numbering-continues' : 'not-saved',
      };
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
      const { wire, sent } = await oneMessageThenQuit(scope, lines);
      const after = await settle(scope.dir, (snap) => snap.get('1.txt')?.content?.equals(wanted) === true);
      const changed = changedFiles(before, after);
      const statuses = `statuses ${seenText(wire, scope.t)}`;
      const now = after.get('1.txt');
      const result = (status: CheckStatus, seen: string, skipReason?: SkipReason, fault?: string): Outcome => ({
        status,
        ...(skipReason ? { skipReason } : {}),
        ...(fault ? { fault } : {}),
        sent: sent.text(),
        expected,
        seen: `${seen}; ${statuses}`,
      });
      if (!old) {
        return result(
          'skip',
          `there was no 1.txt from an earlier connection to overwrite (1.txt now: ${now ? `${now.size} bytes` : 'missing'})`,
          'not-judged',
        );
      }
      const content = now?.content;
      if (content?.equals(wanted)) return result('pass', `1.txt holds exactly the new ${wanted.length} bytes`);
      if (old.content && content && content.equals(Buffer.concat([old.content, wanted]))) {
        return result(
          'fail',
          `the new message was appended to the earlier 1.txt (${old.size} bytes) instead of ` +
            `replacing it: 1.txt holds ${content.length} bytes; open it with "w", not "a"`,
        );
      }
      if (content && content.length > wanted.length && content.subarray(0, wanted.length).equals(wanted)) {
        return result(
          'fail',
          `1.txt holds the new message, then the rest of the earlier file ` +
            `(${content.length} bytes): written over without truncating`,
        );
      }
      if (!changed.some((f) => f.name === '1.txt')) {
        const holder = findHolder(changed, wanted);
        if (holder) {
          return result(
            'skip',
            `the message was saved as ${holder.name}, not 1.txt, so 1.txt was ` +
              `not written again (see numbering-restarts)`,
            'not-judged',
          );
        }
        return result(
          'fail',
          `1.txt was not written again and the message is in no k.txt (files written: ${filesText(changed)})`,
          undefined,
          'not-saved',
        );
      }
      return result('fail', `1.txt: ${content ? savedText(wanted, content) : 'gone'}`);
    },
  },
  {
    name: 'stored-before-answer',
    title: 'A means stored: the moment A arrives, k.txt already holds the whole message',
    required: true,
    needsDir: true,
    async run(scope) {
      const msgs = [scope.run.lines('stored first', 1), scope.run.lines('stored first, file 2', 2)];
      const bodies = msgs.map(body);
      const atAnswer: { holder?: string; named: string; at: number }[] = [];
      const wire = await scope.connect();
      // The connection's port on this side: how the server's trace names it (read before it closes).
      const localPort = wire.socket.localPort ?? 0;
      const started = Date.now();
      // Read the folder synchronously the very moment each A arrives, before anything else runs.
      wire.onBytes = (chunk) => {
        for (const byte of chunk) {
          const i = atAnswer.length;
          if (byte !== STATUS_ACCEPTED || i >= bodies.length) continue;
          atAnswer.push({ ...holderNow(scope.dir, `${i + 1}.txt`, bodies[i]!), at: Date.now() - started });
        }
      };
      const sent = new Sent();
      for (const [i, m] of msgs.entries()) {
        await wire.write(encodeMessage(m));
        sent.add(messageText(m));
        await wire.waitForStatuses(i + 1, scope.t);
      }
      await quit(wire, sent, msgs.length, scope.t);
      wire.onBytes = undefined;
      const expected =
        'at the moment each A arrives, a k.txt already holds the whole message (the ' +
        'handout: save the message, then send the response)';
      if (atAnswer.length < bodies.length) {
        return {
          status: 'skip',
          skipReason: 'not-judged',
          sent: sent.text(),
          expected,
          seen:
            `only ${atAnswer.length} of the ${bodies.length} messages were answered A, so A's ` +
            `meaning could not be judged (see accept); statuses ${seenText(wire, scope.t)}`,
        };
      }
      // Where the messages are once the server had time: were they stored late, or never?
      const later = await settle(scope.dir, (snap) => bodies.every((b) => findHolder([...snap.values()], b)));
      const holders = bodies.map((b) => findHolder([...later.values()], b)?.name ?? null);
      const statuses = `statuses ${seenText(wire, scope.t)}`;
      const order = scope.run.options.order;
      const seenOrder = order
        ? await order.answers(localPort, holders)
        : { unseen: 'no source of the order of events was given' };
      const fix = 'write and close the file (so its bytes are in it) before sending A';
      if ('answers' in seenOrder) {
        const ok = seenOrder.answers.every((a) => a.order === 'stored-before');
        const late = seenOrder.answers.find((a) => a.order !== 'stored-before');
        const seen = seenOrder.answers.map((a) => a.detail);
        return {
          status: ok ? 'pass' : 'fail',
          evidence: 'order',
          sent: sent.text(),
          expected,
          seen: `${seen.join('; ')} (seen in ${order!.describe}); ${statuses}`,
          notes: [
            `judged by the order of ${order!.describe}, not by timing: the same verdict on every run`,
            ...(ok ? [] : [fix]),
          ],
          ...(ok ? {} : { fault: late!.order === 'written-after' ? 'answer-before-store' : 'not-saved' }),
        };
      }
      const parts: string[] = [];
      let ok = true;
      let fault: string | undefined;
      for (const [i, seen] of atAnswer.entries()) {
        if (seen.holder) {
          parts.push(`A ${i + 1}: ${seen.holder} already held the message`);
          continue;
        }
        ok = false;
        const after = holders[i];
        fault ??= after ? 'answer-before-store' : 'not-saved';
        parts.push(
          after
            ? `A ${i + 1} arrived before the message was stored (${seen.named} then; ${after} held it only later)`
            : `A ${i + 1} arrived, but the message was never stored in a k.txt (${seen.named})`,
        );
      }
      const timingOnly =
        `judged by timing only (the folder read the moment each A arrived): a file ` +
        `stored microseconds after its A can pass; the order of the server's events could not be ` +
        `seen: ${seenOrder.unseen}`;
      return {
        status: ok ? 'pass' : 'fail',
        evidence: 'timing',
        sent: sent.text(),
        expected,
        seen: `${parts.join('; ')}; ${statuses}`,
        notes: [timingOnly, ...(ok ? [] : [fix])],
        ...(ok ? {} : { fault: fault! }),
      };
    },
  },
];
