// Reading a trace written by `strace -f -yy` (see strace.ts): the lines become events in the
// order strace saw them: bytes sent on a TCP connection, and files written or put in place.
// Calls cut in two by another thread (`<unfinished ...>`, `<... write resumed>`) are joined.
import { basename } from 'node:path';

/** Bytes a server sent on one TCP connection in one call. */
export interface SendEvent {
  kind: 'send';
  /** Where the call began, in the trace's order (a send counts from its start). */
  at: number;
  /** The other end's port: the checker's local port. */
  peerPort: number;
  /** The bytes sent (as far as the trace shows them: `-s` cuts long buffers). */
  bytes: Buffer;
  /** The trace showed only the start of the buffer. */
  cut: boolean;
}

/** A file changed: written, truncated, or renamed or linked into place. */
export interface FileEvent {
  kind: 'file';
  /** Where the call ended, in the trace's order (a write counts once its bytes are in the file). */
  at: number;
  /** The file's name, without its folder. */
  name: string;
  /** `write of 2 bytes`, `rename from 1.txt.tmp` */
  what: string;
}

export type TraceEvent = SendEvent | FileEvent;

const WRITES = new Set([
  'write',
  'writev',
  'pwrite64',
  'pwritev',
  'pwritev2',
  'send',
  'sendto',
  'sendmsg',
  'sendmmsg',
  'sendfile',
]);
const PLACES = new Set(['rename', 'renameat', 'renameat2', 'link', 'linkat']);
const TRUNCATES = new Set(['ftruncate']);

/** `4<TCP:[127.0.0.1:12100->127.0.0.1:36080]>` or `4<TCPv6:[[::1]:12100->[::1]:36080]>`: the other end's port. */
const SOCKET = /^\d+<TCP(?:v6)?:\[.*->.*:(\d+)\]>$/;
/** `5</tmp/sbx-1/1.txt>`: the file's path. */
const FILE_FD = /^\d+<(\/.*)>$/;
const QUOTED = /"((?:[^"\\]|\\.)*)"(\.\.\.)?/g;

/** The bytes of a string as strace prints it (`"A\n\303\251"`). */
export function unquote(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\') {
      out.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const n = text[++i] ?? '';
    const simple: Record<string, number> = {
      n: 10,
      t: 9,
      r: 13,
      v: 11,
      f: 12,
      a: 7,
      b: 8,
      '\\': 92,
      '"': 34,
      "'": 39,
      '?': 63,
    };
    if (n in simple) out.push(simple[n]!);
    else if (n === 'x') {
      const hex = /^[0-9a-fA-F]{1,2}/.exec(text.slice(i + 1))?.[0] ?? '';
      out.push(Number.parseInt(hex || '0', 16));
      i += hex.length;
    } else if (/[0-7]/.test(n)) {
      const oct = /^[0-7]{1,3}/.exec(text.slice(i))![0];
      out.push(Number.parseInt(oct, 8) & 0xff);
      i += oct.length - 1;
    } else out.push(...Buffer.from(n, 'utf8'));
  }
  return Buffer.from(out);
}

/**
 * The first argument of a call (its fd, decorated by `-yy`: `4<TCP:[a:1->b:2]>`, `5</x/1.txt>`), up to the comma after
 * it.
 */
function firstArg(args: string): string {
  const socket = /^\d+<TCP(?:v6)?:\[[^\]]*\]>/.exec(args);
  if (socket) return socket[0];
  const end = args.indexOf('>, ');
  return end < 0 ? args.trim() : args.slice(0, end + 1);
}

/** One call, joined from its halves when another thread cut it. */
interface Call {
  name: string;
  args: string;
  ret: number;
  start: number;
  end: number;
}

/** `NAME(ARGS) = RET`: the arguments and the result, or undefined for a call that failed or a line of another kind. */
function split(text: string): { name: string; args: string; ret: number } | undefined {
  const open = /^([a-z0-9_]+)\(/.exec(text);
  if (!open) return undefined;
  const result = /\)\s+=\s+(-?\d+)(?:<[^>]*>)?(?:\s.*)?$/.exec(text);
  if (!result) return undefined;
  return { name: open[1]!, args: text.slice(open[0].length, result.index), ret: Number(result[1]) };
}

function* calls(trace: string): Generator<Call> {
  /** Per thread: the first half of a call another thread cut. */
  const pending = new Map<string, { name: string; head: string; start: number }>();
  const lines = trace.split('\n');
  for (const [index, line] of lines.entries()) {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pid, text] = m as unknown as [string, string, string];
    const cut = /^(.*?)\s*<unfinished \.\.\.>$/.exec(text);
    if (cut) {
      const name = /^([a-z0-9_]+)\(/.exec(cut[1]!)?.[1];
      if (name) pending.set(pid, { name, head: cut[1]!, start: index });
      continue;
    }
    const resumed = /^<\.\.\. ([a-z0-9_]+) resumed>(.*)$/.exec(text);
    if (resumed) {
      const head = pending.get(pid);
      pending.delete(pid);
      if (!head || head.name !== resumed[1]) continue;
      const whole = split(`${head.head}${resumed[2]}`);
      if (whole) yield { ...whole, start: head.start, end: index };
      continue;
    }
    const whole = split(text);
    if (whole) yield { ...whole, start: index, end: index };
  }
}

/** The events of a trace, in the order strace saw them; calls that failed are left out. */
export function parseTrace(trace: string): TraceEvent[] {
  const events: TraceEvent[] = [];
  for (const call of calls(trace)) {
    if (call.ret < 0) continue;
    if (WRITES.has(call.name) || TRUNCATES.has(call.name)) {
      const fd = firstArg(call.args);
      const socket = SOCKET.exec(fd);
      if (socket && call.name !== 'sendfile') {
        const parts = [...call.args.matchAll(QUOTED)];
        const shown = Buffer.concat(parts.map((p) => unquote(p[1]!)));
        const bytes = shown.subarray(0, Math.min(shown.length, call.ret));
        events.push({
          kind: 'send',
          at: call.start,
          peerPort: Number(socket[1]),
          bytes,
          cut: bytes.length < call.ret || parts.some((p) => p[2] !== undefined),
        });
        continue;
      }
      const file = FILE_FD.exec(fd);
      if (file && (call.ret > 0 || TRUNCATES.has(call.name))) {
        const what = TRUNCATES.has(call.name) ? 'truncated' : `written (${call.ret} byte${call.ret === 1 ? '' : 's'})`;
        events.push({ kind: 'file', at: call.end, name: basename(file[1]!), what });
      }
      continue;
    }
    if (PLACES.has(call.name)) {
      const paths = [...call.args.matchAll(QUOTED)].map((p) => unquote(p[1]!).toString('utf8'));
      const [from, to] = paths;
      if (from !== undefined && to !== undefined) {
        events.push({
          kind: 'file',
          at: call.end,
          name: basename(to),
          what: `${call.name.startsWith('link') ? 'linked' : 'renamed'} from ${basename(from)}`,
        });
      }
    }
  }
  return events;
}
