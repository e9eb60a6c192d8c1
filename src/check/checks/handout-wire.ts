// The handout's rules on the wire: the status bytes, the quit and close, the template client's
// split counts, messages in one write or one byte at a time, and line content.
import { encodeMessage, QUIT_MESSAGE } from '../../protocol/encoder.js';
import type { CheckDef } from '../engine.js';
import { messageText, quote, QUIT_TEXT, statusesText } from '../format.js';
import { changedFiles, snapshot, type FileState, type Snapshot } from '../snapshot.js';
import { sleep } from '../../text.js';
import {
  body,
  EXTRA_MS,
  faultFields,
  GRACE_MS,
  judge,
  judgeStatuses,
  oneMessageThenQuit,
  quit,
  savedBytes,
  savedText,
  seenText,
  Sent,
  settle,
} from './helpers.js';

const Q = 0x51;

export const WIRE_CHECKS: CheckDef[] = [
  {
    name: 'quit',
    title: 'status Q for the zero-line message',
    required: true,
    async run(scope) {
      const wire = await scope.connect();
      const sent = new Sent();
      await wire.write(QUIT_MESSAGE);
      sent.add(`${QUIT_TEXT} (the zero-line message, first on the connection)`);
      await wire.waitForStatuses(1, scope.t);
      await wire.linger(GRACE_MS);
      const j = judge(wire, 'Q');
      return {
        status: j.ok ? 'pass' : 'fail',
        sent: sent.text(),
        expected: 'the one byte Q (0x51)',
        seen: seenText(wire, scope.t),
        ...faultFields(j),
      };
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
      await wire.waitForStatuses(1, scope.t);
      const gotQ = wire.data.includes(Q);
      const closed = await wire.waitForEnd(scope.t);
      const ms = Date.now() - started;
      const expected = `Q, then the server closes the connection (within ${scope.t} ms)`;
      if (!gotQ) {
        // Without the Q there is no close after it to judge: that is the quit check's fault.
        const j = judgeStatuses(Buffer.from(wire.data), 'Q');
        return {
          status: 'fail',
          sent: sent.text(),
          expected,
          seen: `no Q (${seenText(wire, scope.t)}), so no close after a Q was seen`,
          fault: j.fault ?? 'no-q',
        };
      }
      const statuses = statusesText(wire.data);
      const seen = closed
        ? `${statuses}, ${wire.endText()} after ${ms} ms`
        : `${statuses}, the connection still open after ${scope.t} ms`;
      return { status: closed ? 'pass' : 'fail', sent: sent.text(), expected, seen };
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
      await wire.waitForStatuses(1, scope.t);
      await wire.linger(EXTRA_MS);
      const answer = Buffer.from(wire.data);
      await quit(wire, sent, wire.statusCount, scope.t);
      const j = judgeStatuses(answer, 'A');
      const seen =
        answer.length === 0
          ? `no byte within ${scope.t} ms, ${wire.endText()}`
          : `${statusesText(answer)} after the message (all bytes: ${seenText(wire, scope.t)})`;
      return {
        status: j.ok ? 'pass' : 'fail',
        sent: sent.text(),
        expected: 'the one byte A (0x41) after the message',
        seen,
        ...faultFields(j),
      };
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
      await wire.waitForStatuses(1, scope.t);
      await wire.write(Buffer.from([0, 0]));
      await sleep(pause);
      await wire.write(Buffer.from([0, 0]));
      sent.add(`then the quit the same way: [00 00], a ${pause} ms pause, [00 00]`);
      await wire.waitForStatuses(2, scope.t);
      await wire.linger(GRACE_MS);
      const j = judge(wire, 'AQ');
      return {
        status: j.ok ? 'pass' : 'fail',
        sent: sent.text(),
        expected: 'A after the message, Q after the quit (the server puts each split count back together)',
        seen: seenText(wire, scope.t),
        ...faultFields(j),
      };
    },
  },
  {
    name: 'one-write',
    title: 'several messages and the quit in one write',
    required: true,
    async run(scope) {
      const msgs = [
        scope.run.lines('one write, file 1', 1),
        scope.run.lines('one write, file 2', 2),
        scope.run.lines('one write, file 3', 3),
      ];
      const wire = await scope.connect();
      await wire.write(Buffer.concat([...msgs.map((m) => encodeMessage(m)), QUIT_MESSAGE]));
      const sent = `one write of ${[...msgs.map(messageText), QUIT_TEXT].join(' ')}`;
      await wire.waitForStatuses(4, scope.t);
      await wire.linger(GRACE_MS);
      const j = judge(wire, 'AAAQ');
      return {
        status: j.ok ? 'pass' : 'fail',
        sent,
        expected: 'A A A Q',
        seen: seenText(wire, scope.t),
        ...faultFields(j),
      };
    },
  },
  {
    name: 'byte-at-a-time',
    title: 'one byte at a time',
    required: true,
    async run(scope) {
      const msgs = [scope.run.lines('byte by byte', 2), scope.run.lines('byte by byte', 1)];
      const bytes = Buffer.concat([...msgs.map((m) => encodeMessage(m)), QUIT_MESSAGE]);
      // Where each message ends in the bytes: a status byte before then answered lines not yet read.
      const ends = msgs.map((_, i) => Buffer.concat(msgs.slice(0, i + 1).map((m) => encodeMessage(m))).length);
      let early: string | undefined;
      const wire = await scope.connect();
      for (const [i, byte] of bytes.entries()) {
        if (wire.serverGone) break;
        const whole = ends.filter((end) => end <= i).length;
        const statuses = [...wire.data].filter((b) => b !== 0x0a && b !== 0x0d && b !== 0x20 && b !== 0x00).length;
        if (early === undefined && whole < ends.length && statuses > whole) {
          const start = whole === 0 ? 0 : ends[whole - 1]!;
          early =
            `A sent before the lines were read: a status byte arrived when only ${i - start} ` +
            `of message ${whole + 1}'s ${ends[whole]! - start} bytes had been sent`;
        }
        await wire.write(Buffer.from([byte]));
        await sleep(2);
      }
      const sent = `${bytes.length} writes of one byte each, ~2 ms apart: ${[...msgs.map(messageText), QUIT_TEXT].join(' ')}`;
      await wire.waitForStatuses(3, scope.t);
      await wire.linger(GRACE_MS);
      const j = judge(wire, 'AAQ');
      if (early !== undefined) {
        return {
          status: 'fail',
          sent,
          expected: 'A A Q, each A once its message has arrived',
          seen: `${early}; ${seenText(wire, scope.t)}`,
          fault: 'answer-before-lines',
          notes: ['read all N lines of a message before answering it'],
        };
      }
      return {
        status: j.ok ? 'pass' : 'fail',
        sent,
        expected: 'A A Q',
        seen: seenText(wire, scope.t),
        ...faultFields(j),
      };
    },
  },
  {
    name: 'content',
    title: 'line content kept byte for byte (empty lines, \\r, tabs, UTF-8)',
    required: true,
    async run(scope) {
      const [tag] = scope.run.lines('content', 1);
      const lines = [
        '',
        'carriage return at the end\r',
        '\r',
        '\ttab\tseparated\t',
        'UTF-8: wörld ✓ 日本語 🚀',
        '  spaces around  ',
        tag!,
        '',
      ];
      const wanted = body(lines);
      const before = scope.hasDir ? await snapshot(scope.dir) : undefined;
      const { wire, sent } = await oneMessageThenQuit(scope, lines);
      const j = judge(wire, 'AQ');
      const statuses = `statuses ${seenText(wire, scope.t)}`;
      if (!before) {
        return {
          status: j.ok ? 'pass' : 'fail',
          sent: sent.text(),
          expected: 'A, then Q',
          seen: statuses,
          ...faultFields(j),
          notes: [
            ...faultFields(j).notes,
            'the saved bytes were not compared: give the server folder (--dir) for that',
          ],
        };
      }
      const matches = (snap: Snapshot): FileState | undefined =>
        changedFiles(before, snap).find(
          (f) => f.content !== undefined && savedBytes(f, before.get(f.name)).bytes.equals(wanted),
        );
      const after = await settle(scope.dir, (snap) => matches(snap) !== undefined);
      const exact = matches(after);
      const notes = faultFields(j).notes;
      let fileSeen: string;
      if (exact) {
        if (savedBytes(exact, before.get(exact.name)).appended)
          notes.push(`the message was appended to the earlier ${exact.name} (see overwrite)`);
        fileSeen = `${exact.name} holds the ${wanted.length} bytes exactly`;
      } else {
        const written = changedFiles(before, after).filter((f) => f.size > 0);
        const first = written[0];
        fileSeen = first
          ? `${first.name} (${first.size} bytes) differs: ` +
            `${savedText(wanted, savedBytes(first, before.get(first.name)).bytes)}`
          : 'no k.txt was written';
      }
      // The file is this check's own business; a fault of the statuses alone is another check's.
      const nothingWritten = fileSeen === 'no k.txt was written';
      const fault = exact ? j.fault : nothingWritten ? 'not-saved' : undefined;
      return {
        status: j.ok && exact ? 'pass' : 'fail',
        sent: sent.text(),
        expected: `A, then Q; the file holds exactly these ${wanted.length} bytes`,
        seen: `${fileSeen}; ${statuses}`,
        notes,
        ...(fault ? { fault } : {}),
      };
    },
  },
];
