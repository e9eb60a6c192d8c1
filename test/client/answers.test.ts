// The client's answer window (src/client/client.ts) over a real socket: status bytes matched to the oldest waiting
// message however the server's bytes are cut into chunks (one byte per write, or every answer in one), and a byte that
// answers no message.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { ClientError, LinedropClient } from '../../src/index.js';
import { HOST, sleep, within } from '../support.js';
import { Peer } from './peers.js';

const isClientError = (code: string, message: RegExp) => (e: unknown) =>
  e instanceof ClientError && e.code === code && message.test(e.message);

/** A peer that, once `count` messages have arrived, calls `answer` with the socket. */
function answerAfter(count: number, answer: (socket: Socket) => void): Promise<Peer> {
  return Peer.start({
    onMessage: (socket, _lines, n) => {
      if (n === count) answer(socket);
    },
  });
}

describe('client: the answer window', () => {
  test('answers that arrive one byte per write: each message gets its own status, in order', async () => {
    const answers = 'AAQ';
    const peer = await answerAfter(3, (socket) => {
      void (async () => {
        for (const byte of answers) {
          socket.write(byte);
          await sleep(20);
        }
      })();
    });
    try {
      const client = await LinedropClient.connect({ host: HOST, port: peer.port, maxInFlight: 8 });
      const statuses = [client.sendLines(['one']), client.sendLines(['two', 'lines']), client.quit()];
      assert.deepEqual(await Promise.all(statuses), ['A', 'A', 'Q']);
      await within(client.whenClosed(), 10_000, 'the connection to close after Q');
    } finally {
      await peer.close();
    }
  });

  test('a window of 2 answered two statuses per chunk: both leave the window, room is made, all six messages A', async () => {
    // The server answers each pair only once both are in, so the client must free both places from one chunk.
    const peer = await Peer.start({
      onMessage: (socket, _lines, n) => {
        if (n % 2 === 0) socket.write('AA');
      },
    });
    try {
      const client = await LinedropClient.connect({ host: HOST, port: peer.port, maxInFlight: 2 });
      const statuses = Array.from({ length: 6 }, (_, i) => client.sendLines([`message ${i + 1}`]));
      assert.deepEqual(await within(Promise.all(statuses), 10_000, 'six answers'), Array(6).fill('A'));
      assert.equal(peer.messages, 6);
      client.destroy();
    } finally {
      await peer.close();
    }
  });

  test(
    'one chunk with the answers to three messages and a fourth byte: the three are A, the fourth ' +
      'ends the connection with LINEDROP_ERR_UNSOLICITED',
    async () => {
      const peer = await answerAfter(3, (socket) => socket.write('AAAA'));
      try {
        const client = await LinedropClient.connect({ host: HOST, port: peer.port, maxInFlight: 8 });
        const statuses = [client.sendLines(['one']), client.sendLines(['two']), client.sendLines(['three'])];
        assert.deepEqual(await Promise.all(statuses), ['A', 'A', 'A']);
        // (A client that ignored the fourth byte would wait here forever: fail instead.)
        await within(client.whenClosed(), 10_000, 'the client to close the connection over the fourth byte');
        assert.equal(client.usable, false);
        await assert.rejects(
          client.sendLines(['four']),
          isClientError(
            'LINEDROP_ERR_UNSOLICITED',
            /^the server sent "A" \(41\) that no file asked for; the connection was closed$/,
          ),
        );
      } finally {
        await peer.close();
      }
    },
  );
});
