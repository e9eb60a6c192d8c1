// The receiving side of the benchmark, in a process of its own so that it has its own event loop
// and its own RSS. One mode per run:
//
//   linedrop --dir D [--layout flat|session] [--group-commit 0|1] [--fsync 0]   the real server;
//                         --fsync 0 turns every fsync/fdatasync into a no-op (NOT durable: only
//                         to measure the ceiling that the file operations alone allow)
//   raw --file F          a plain socket piped to a file, fsync at the end, then one byte back
//   null                  speaks the protocol, throws the bytes away: 'A' per message, 'Q' on quit
//
// It prints one JSON line `{"ready":true,"port":N}` when it listens. On standard input it takes
// `stats` (answers `{"stats":{...}}`: connections, rss, heapUsed, external, arrayBuffers) and
// `gc`; when standard input ends it closes and exits.
import { closeSync, createWriteStream, fsync, openSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { createInterface } from 'node:readline';
import { DirectoryStorage, startServer, type Layout, type LinedropServer } from '../src/index.js';
import { Decoder } from '../src/protocol/index.js';

const HOST = '127.0.0.1';

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : (process.argv[at + 1] ?? fallback);
}

function say(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen({ port: 0, host: HOST, backlog: 4096 }, resolve));
  return (server.address() as AddressInfo).port;
}

/** A plain socket piped into a file; `A` back once the file is fsync'ed. */
function rawServer(file: string): Server {
  return createServer({ allowHalfOpen: true }, (socket: Socket) => {
    socket.on('error', () => undefined);
    const fd = openSync(file, 'w');
    const out = createWriteStream(file, { fd, autoClose: false, highWaterMark: 1024 * 1024 });
    socket.pipe(out);
    out.on('finish', () => {
      fsync(fd, (err) => {
        closeSync(fd);
        socket.end(err ? 'R' : 'A');
      });
    });
  });
}

/** Speaks the protocol but keeps nothing: isolates a sender's own cost. */
function nullServer(): Server {
  return createServer({ allowHalfOpen: true }, (socket: Socket) => {
    socket.on('error', () => undefined);
    const decoder = new Decoder();
    socket.on('data', (chunk: Buffer) => {
      for (const event of decoder.push(chunk)) {
        if (event.type === 'end') {
          if (event.lines === 0) socket.end('Q');
          else socket.write('A');
        } else if (event.type === 'error') {
          socket.end('R');
        }
      }
    });
    socket.on('end', () => socket.end());
  });
}

/** Makes the file and folder flushes DirectoryStorage makes return at once (bench ceiling only: not durable). */
function withoutFsync(): void {
  const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
  const skip = ((_fd: number, callback: (err: null) => void) => process.nextTick(callback, null)) as typeof fs.fsync;
  fs.fsync = skip;
  fs.fdatasync = skip;
  syncBuiltinESMExports();
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  let linedrop: LinedropServer | undefined;
  let plain: Server | undefined;
  let port: number;
  const sockets = new Set<Socket>();
  if (mode === 'linedrop') {
    if (flag('fsync', '1') === '0') withoutFsync();
    const dir = flag('dir', 'received');
    const storage = new DirectoryStorage({
      dir,
      layout: flag('layout', 'flat') as Layout,
      groupCommit: flag('group-commit', '1') !== '0',
    });
    linedrop = await startServer({
      port: 0,
      host: HOST,
      storage,
      idleTimeoutMs: 0,
      maxConnections: 1_000_000,
      maxConnectionsPerAddress: 1_000_000,
    });
    port = linedrop.address().port;
  } else {
    if (mode === 'raw') plain = rawServer(flag('file', 'raw.out'));
    else if (mode === 'null') plain = nullServer();
    else throw new Error(`unknown mode ${String(mode)}`);
    plain.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    port = await listen(plain);
  }
  say({ ready: true, port, pid: process.pid });

  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const command = line.trim();
    if (command === 'gc') {
      (globalThis as { gc?: () => void }).gc?.();
      say({ ok: true });
    } else if (command === 'stats') {
      const m = process.memoryUsage();
      const cpu = process.cpuUsage();
      say({
        stats: {
          connections: linedrop ? linedrop.connections : sockets.size,
          rss: m.rss,
          heapUsed: m.heapUsed,
          heapTotal: m.heapTotal,
          external: m.external,
          arrayBuffers: m.arrayBuffers,
          cpuUser: cpu.user / 1e6,
          cpuSystem: cpu.system / 1e6,
        },
      });
    }
  });
  lines.on('close', () => {
    const done = (): void => process.exit(0);
    if (linedrop) void linedrop.close().then(done, done);
    else {
      for (const socket of sockets) socket.destroy();
      plain!.close(done);
    }
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`server-child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
