// Servers that misbehave the way real ones do, for the client's fault tests: one that never
// answers, one that never reads, one that answers whatever it is told, and a listening socket whose
// backlog is full (connecting to it never completes).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Decoder } from '../../src/protocol/index.js';
import { HOST } from '../support.js';

/** A TCP server on 127.0.0.1, port 0, that keeps track of its sockets and closes them all on `close()`. */
export class Peer {
  readonly sockets = new Set<Socket>();
  /** Bytes received, over all connections. */
  received = 0;
  /** Complete messages received (quit messages included), over all connections. */
  messages = 0;
  connections = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /**
   * `onMessage(socket, lines, n)` runs for every complete message (`n` from 1 per connection);
   * `read: false` never reads a byte (the receive window fills); `allowHalfOpen: true` keeps its side
   * open when the client closes its own (a server that never closes); `onConnect` runs first.
   */
  static async start(
    options: {
      read?: boolean;
      allowHalfOpen?: boolean;
      onConnect?: (socket: Socket) => void;
      onMessage?: (socket: Socket, lines: number, n: number) => void;
    } = {},
  ): Promise<Peer> {
    const server = createServer({
      pauseOnConnect: options.read === false,
      allowHalfOpen: options.allowHalfOpen === true,
    });
    server.listen(0, HOST);
    await once(server, 'listening');
    const peer = new Peer(server, (server.address() as { port: number }).port);
    server.on('connection', (socket: Socket) => {
      peer.connections++;
      peer.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => peer.sockets.delete(socket));
      options.onConnect?.(socket);
      if (options.read === false) return;
      const decoder = new Decoder({ maxMessageBytes: Number.MAX_SAFE_INTEGER });
      let n = 0;
      socket.on('data', (chunk: Buffer) => {
        peer.received += chunk.length;
        for (const event of decoder.push(chunk)) {
          if (event.type !== 'end') continue;
          peer.messages++;
          options.onMessage?.(socket, event.lines, ++n);
        }
      });
    });
    return peer;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    await once(this.server, 'close');
  }
}

/**
 * A listening socket on 127.0.0.1 whose accept queue is full: a process that listens with a
 * backlog of 1 and never accepts (its event loop is blocked), and two connections that fill the
 * queue. A further connection attempt is never answered (Linux drops its SYN).
 */
export class FullBacklog {
  private constructor(
    private readonly child: ChildProcess,
    private readonly fillers: Socket[],
    readonly port: number,
  ) {}

  static async start(): Promise<FullBacklog> {
    const code =
      "const s = require('net').createServer();" +
      "s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {" +
      "  process.stdout.write(s.address().port + '\\n');" +
      '  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);' +
      '});';
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const port = Number(line.toString().trim());
    // A backlog of 1 holds two connections that the kernel completes without the process.
    const fillers: Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const socket = connect({ host: HOST, port });
      socket.on('error', () => undefined);
      fillers.push(socket);
      await once(socket, 'connect');
    }
    return new FullBacklog(child, fillers, port);
  }

  async close(): Promise<void> {
    for (const socket of this.fillers) socket.destroy();
    if (this.child.exitCode === null) {
      this.child.kill('SIGKILL');
      await once(this.child, 'exit');
    }
  }
}
