// Whether a server's processes are still serving (waiting for the next connection) or on their
// way out, read from /proc (Linux) without connecting. After a check's connections ended, a
// server that still runs is one of two kinds, and a timer cannot tell them apart:
// - it serves more connections: some thread waits for the next one (blocked in accept() on its
//   listening socket, or in epoll/poll/select with that socket in its set: Node, asyncio, Go,
//   Java NIO, C's select loops);
// - it is on its way out (a lab server that sleeps a second after Q before it closes): it still
//   holds its listening socket (a lab server closes it only at exit), but no thread waits on it.
//   A connection made now would sit in the socket's backlog and be reset when the process exits.
// So: a listening socket and a thread waiting on it is `accepting`; no listening socket left is
// `not-listening`; a listening socket that nobody waits on is `idle` (asleep, or busy between two
// connections: look again); `unknown` where /proc cannot tell (not Linux, or processes we may not
// read): the caller falls back to waiting a while.
import { readdirSync, readFileSync } from 'node:fs';
import { listenersHere, socketFds } from './ports.js';

export type ServingState = 'gone' | 'accepting' | 'not-listening' | 'idle' | 'unknown';

/** The system calls a thread waits for connections in, by architecture (see the kernel's syscall tables). */
const CALLS: Partial<Record<string, { accept: number[]; epoll: number[]; poll: number[]; select: number[] }>> = {
  x64: { accept: [43, 288], epoll: [232, 281, 441], poll: [7, 271], select: [23, 270] },
  arm64: { accept: [202, 242], epoll: [22, 441], poll: [73], select: [72] },
};

/**
 * Kernel functions a thread sleeps in (/proc/<pid>/task/<tid>/wchan) while it waits for a connection or any of several
 * fds.
 */
const WCHAN_ACCEPT = /^inet_csk_accept$/;
const WCHAN_WAIT_ANY = /^(do_epoll_wait|ep_poll|do_sys_poll|do_select|core_sys_select)$/;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

/** The fds an epoll instance watches (its `tfd:` lines in /proc/<pid>/fdinfo/<epfd>). */
function epollTargets(pid: number, epfd: number): number[] {
  const text = read(`/proc/${pid}/fdinfo/${epfd}`) ?? '';
  return [...text.matchAll(/^tfd:\s*(\d+)/gm)].map((m) => Number(m[1]));
}

type ThreadWait = 'waits' | 'other' | 'unknown';

/** Whether one thread waits for a connection on one of `listening` (fd numbers of listening sockets). */
function threadWaits(pid: number, tid: string, listening: Set<number>): ThreadWait {
  const calls = CALLS[process.arch];
  const syscall = read(`/proc/${pid}/task/${tid}/syscall`)?.trim();
  if (calls && syscall !== undefined && syscall !== 'running' && /^\d+ /.test(syscall)) {
    const [nr, ...args] = syscall.split(' ').map((x) => Number(x));
    const arg = (i: number): number => args[i] ?? -1;
    if (calls.accept.includes(nr!)) return listening.has(arg(0)) ? 'waits' : 'other';
    if (calls.epoll.includes(nr!)) return epollTargets(pid, arg(0)).some((fd) => listening.has(fd)) ? 'waits' : 'other';
    // poll's and select's sets are in the process's memory: any wait on some fds counts (a bare sleep passes none).
    if (calls.poll.includes(nr!)) return arg(1) > 0 ? 'waits' : 'other';
    if (calls.select.includes(nr!)) return [...listening].some((fd) => fd < arg(0)) ? 'waits' : 'other';
    return 'other';
  }
  if (syscall === 'running' || syscall?.startsWith('-1')) return 'other';
  const wchan = read(`/proc/${pid}/task/${tid}/wchan`)?.trim();
  if (wchan === undefined || wchan === '' || wchan === '0') return 'unknown';
  if (WCHAN_ACCEPT.test(wchan)) return 'waits';
  if (WCHAN_WAIT_ANY.test(wchan)) return 'waits';
  return 'other';
}

/**
 * Whether the processes `pids` (a server's live processes) wait for connections. `ownNetwork`:
 * the server has the network namespace to itself, so every listening socket in it is its own.
 */
export function servingState(pids: readonly number[], ownNetwork = false): ServingState {
  if (pids.length === 0) return 'gone';
  const listeners = listenersHere();
  const listeningInodes = new Set(listeners.map((l) => l.inode));
  if (ownNetwork && listeners.length === 0) return 'not-listening';
  let readable = 0;
  let anyListening = false;
  let unknown = false;
  for (const pid of pids) {
    const fds = socketFds(pid);
    if (!fds) continue;
    readable++;
    const listening = new Set([...fds].filter(([, inode]) => listeningInodes.has(inode)).map(([fd]) => fd));
    if (listening.size === 0) continue;
    anyListening = true;
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // Gone meanwhile.
    }
    for (const tid of tids) {
      const w = threadWaits(pid, tid, listening);
      if (w === 'waits') return 'accepting';
      if (w === 'unknown') unknown = true;
    }
  }
  if (readable === 0) return listeners.length === 0 ? 'not-listening' : 'unknown';
  if (!anyListening) return ownNetwork && readable < pids.length ? 'unknown' : 'not-listening';
  return unknown ? 'unknown' : 'idle';
}
