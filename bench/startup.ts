// 7. Start-up: `linedrop --version`, `linedrop --help` and the start of `linedrop send` (spawn to
// its connection), next to bare `node`.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { LINEDROP, timeCommand } from './commands.js';
import type { Options } from './options.js';
import { rows } from './report.js';
import { bestOf, HOST, log, type Timed } from './support.js';

/** Spawns `args` and times it until it connects to `port`, where `accepted` resolves; then stops it. */
async function timeToConnect(args: string[], accepted: () => Promise<void>): Promise<Timed> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, args, { stdio: 'ignore' });
  const exited = once(proc, 'exit');
  const first = await Promise.race([accepted().then(() => true), exited.then(() => false)]);
  const seconds = (performance.now() - t0) / 1000;
  proc.kill('SIGKILL');
  await exited;
  if (!first) throw new Error(`${args.slice(0, 3).join(' ')} exited before it connected`);
  return { seconds };
}

export async function sectionStartup(o: Options, tmp: string): Promise<void> {
  log(`7. start-up, best of ${o.starts} starts each, taken in turns`);
  const bare = (): Promise<Timed> => timeCommand(process.execPath, ['-e', '']);
  for (const flag of ['--version', '--help']) {
    try {
      const [ours, node] = (await bestOf(
        o.starts,
        [() => timeCommand(process.execPath, [LINEDROP, flag], `linedrop ${flag}`), bare],
        [`linedrop ${flag}`, "node -e ''"],
      )) as [Timed, Timed];
      push(`linedrop ${flag}`, ours, node, "node -e ''");
    } catch (err) {
      failed(`linedrop ${flag}`, err as Error);
    }
  }

  // The start of `send`: from spawn until the server sees its connection.
  const server = createServer();
  const waiting: (() => void)[] = [];
  server.on('connection', (socket: Socket) => {
    socket.destroy();
    waiting.shift()?.();
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as AddressInfo).port;
  const accepted = (): Promise<void> => new Promise((resolve) => waiting.push(resolve));
  const file = join(tmp, 'startup.txt');
  await writeFile(file, 'one line\n');
  try {
    const connectOnly = `require('node:net').connect(${port}, '${HOST}')`;
    const [ours, node] = (await bestOf(
      o.starts,
      [
        () => timeToConnect([LINEDROP, 'send', '--host', HOST, '--port', String(port), '--quiet', file], accepted),
        () => timeToConnect(['-e', connectOnly], accepted),
      ],
      ['linedrop send (to connect)', 'node -e connect'],
    )) as [Timed, Timed];
    push(SEND_START, ours, node, `node -e "${connectOnly.replace(String(port), 'PORT')}"`);
  } catch (err) {
    failed(SEND_START, err as Error);
  } finally {
    server.close();
  }
}

const SEND_START = 'start of `linedrop send FILE` (spawn to connection)';

/** A row for a command that could not be measured (it failed), saying why. */
function failed(measure: string, err: Error): void {
  const why = err.message.split('\n')[0]!;
  rows.push({ section: 7, measure, reference: `not measured: ${why}`, target: '<= 1.5x node', met: false, note: why });
}

function push(measure: string, ours: Timed, node: Timed, reference: string): void {
  const ratio = ours.seconds / node.seconds;
  rows.push({
    section: 7,
    measure,
    value: Math.round(ours.seconds * 1000),
    unit: 'ms',
    reference: `${reference}: ${Math.round(node.seconds * 1000)} ms`,
    referenceValue: Math.round(node.seconds * 1000),
    ratio,
    target: '<= 1.5x node',
    met: ratio <= 1.5,
  });
}
