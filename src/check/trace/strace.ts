// The server's system calls as an order of events: the server's command runs under `strace -f`
// (one trace file per start, outside the server's folder), and `answers` reads, for one of the
// checker's connections, whether each A was sent after its file was written. Only the calls that
// send bytes or put bytes in a file are traced (through seccomp, so the others cost nothing),
// with 16 bytes of each buffer, and the trace file is capped: a server that writes without end
// only cuts its own trace short (the check then says it could judge by timing only).
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tryCommand } from '../try-command.js';
import type { AnswerOrder, OrderSource } from '../types.js';
import { sleep } from '../../text.js';
import { judgeAnswers, seesConnection, statusesOn } from './order.js';
import { parseTrace } from './parse.js';

/** The calls traced: bytes sent or written, files truncated or put in place. */
export const TRACED_CALLS = [
  'write',
  'writev',
  'pwrite64',
  'pwritev',
  'pwritev2',
  'sendto',
  'sendmsg',
  'sendmmsg',
  'sendfile',
  'ftruncate',
  'rename',
  'renameat',
  'renameat2',
  'link',
  'linkat',
];
/** The default cap of one start's trace file. */
export const TRACE_LIMIT_BYTES = 64 * 1024 * 1024;
/** How long `answers` waits for the trace to show the connection's last status byte. */
const SETTLE_MS = 1000;

/**
 * The argv that runs `argv` under strace, its trace in `file` (at most `limitBytes`: strace's own
 * file-size limit, given back to the server before it starts).
 */
export function straceArgv(argv: readonly string[], file: string, limitBytes = TRACE_LIMIT_BYTES): string[] {
  const blocks = Math.max(1, Math.floor(limitBytes / 512));
  const strace = [
    'strace',
    '-f',
    '-qq',
    '--seccomp-bpf',
    '-yy',
    '-s',
    '16',
    '-e',
    'signal=none',
    '-e',
    `trace=${TRACED_CALLS.join(',')}`,
    '-o',
    '"$0"',
  ];
  // sh's `ulimit -f` counts 512-byte blocks; the inner shell restores the server's own limit.
  const script =
    `o=$(ulimit -S -f); ulimit -S -f ${blocks} 2>/dev/null; exec ${strace.join(' ')} ` +
    `-- sh -c 'ulimit -S -f "$0" 2>/dev/null; exec "$@"' "$o" "$@"`;
  return ['sh', '-c', script, file, ...argv];
}

/** Whether strace can trace a command here: undefined when it can, else why not. */
export async function straceProblem(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `strace is for Linux; this is ${process.platform}`;
  const argv = ['strace', '-f', '-qq', '--seccomp-bpf', '-o', '/dev/null', '-e', 'trace=write', '--', 'true'];
  const { code, stderr, error } = await tryCommand(argv, 5000);
  if (error) {
    return error.code === 'ENOENT'
      ? 'strace is not installed (Debian: apt-get install strace)'
      : `cannot run strace: ${error.message}`;
  }
  return code === 0
    ? undefined
    : `strace cannot trace here (${stderr.slice(-500).trim().split('\n').at(-1) || `exit status ${code}`})`;
}

/** The order of a server's events from its system calls: the `wrapServer` and the `order` of a check run. */
export class SyscallTracer implements OrderSource {
  readonly describe = "the server's system calls (strace)";
  private readonly files: string[] = [];

  constructor(
    /** A folder of the tracer's own, outside the server's folder. */
    readonly dir: string,
    readonly limitBytes = TRACE_LIMIT_BYTES,
  ) {}

  /** A folder in the system's temporary folder, and a tracer writing there; `close()` removes it. */
  static async create(limitBytes = TRACE_LIMIT_BYTES): Promise<SyscallTracer> {
    return new SyscallTracer(await mkdtemp(join(tmpdir(), 'linedrop-trace-')), limitBytes);
  }

  /** Wraps the server's argv for its `start`-th start. */
  readonly wrap = (argv: string[], start: number): string[] => {
    const file = join(this.dir, `start-${start}.trace`);
    this.files[start - 1] = file;
    return straceArgv(argv, file, this.limitBytes);
  };

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  async answers(
    port: number,
    files: readonly (string | null)[],
  ): Promise<{ answers: AnswerOrder[] } | { unseen: string }> {
    if (this.files.length === 0)
      return { unseen: 'the checker did not start the server, so its system calls were not traced' };
    const deadline = Date.now() + SETTLE_MS;
    while (true) {
      const found = await this.read(port);
      // The trace is written as the server runs: wait until it shows the answer after the last A.
      if (
        found &&
        'events' in found &&
        statusesOn(found.events, port).length <= files.length &&
        Date.now() < deadline
      ) {
        await sleep(50);
        continue;
      }
      if (!found) {
        if (Date.now() < deadline) {
          await sleep(50);
          continue;
        }
        return { unseen: 'the trace of the server shows no byte sent on this connection' };
      }
      if ('unseen' in found) return found;
      const statuses = statusesOn(found.events, port);
      if (statuses.some((s) => s.cut)) return { unseen: 'the server sent more bytes at once than the trace keeps' };
      const answers = judgeAnswers(found.events, port, files);
      if (answers.length < files.length)
        return {
          unseen: `the trace shows ${answers.length} A on this connection, the checker received ${files.length}`,
        };
      return { answers };
    }
  }

  /** The events of the latest start whose trace shows the connection, newest first. */
  private async read(
    port: number,
  ): Promise<{ events: ReturnType<typeof parseTrace> } | { unseen: string } | undefined> {
    for (const file of [...this.files].reverse()) {
      if (file === undefined) continue;
      let size: number;
      try {
        size = (await stat(file)).size;
      } catch {
        continue;
      }
      const events = parseTrace(await readFile(file, 'utf8'));
      if (!seesConnection(events, port)) continue;
      if (size >= this.limitBytes - 4096)
        return {
          unseen: `the trace of the server reached its limit of ${Math.round(this.limitBytes / 1024 / 1024)} MiB`,
        };
      return { events };
    }
    return undefined;
  }
}

/** A tracer in a temporary folder of its own, or why there is none (strace missing or not allowed). */
export async function startTracer(): Promise<{ tracer: SyscallTracer } | { problem: string }> {
  const problem = await straceProblem();
  return problem === undefined ? { tracer: await SyscallTracer.create() } : { problem };
}
