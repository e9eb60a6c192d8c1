// What a socket is given in one turn of the event loop leaves in one system call: the client's
// messages queued together, the server's answers that one folder flush made due.
import type { Socket } from 'node:net';

/** Holds `socket`'s writes until the next tick, when they go out together (once per tick). */
export function batchWrites(socket: Socket): void {
  if (socket.writableCorked > 0) return;
  socket.cork();
  process.nextTick(() => socket.uncork());
}
