// The processes a command started, found through /proc (Linux), so that all of them can be stopped:
// a child that made a process group or a session of its own (GNU `timeout` does) is still a
// descendant, and one whose parent already died is still remembered.
import { readdirSync, readFileSync } from 'node:fs';

interface ProcInfo {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot: tells a process from a later one with the same pid. */
  start: string;
  zombie: boolean;
}

/** Reads /proc/<pid>/stat; undefined when the process is gone (or there is no /proc). */
function procInfo(pid: number): ProcInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..."; comm may hold spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, ppid: Number(fields[1]), start: fields[19] ?? '', zombie: fields[0] === 'Z' || fields[0] === 'X' };
}

function allProcs(): ProcInfo[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcInfo[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const info = procInfo(Number(name));
    if (info) out.push(info);
  }
  return out;
}

/** Whether this system has /proc to follow process trees with. */
export function hasProc(): boolean {
  return procInfo(process.pid) !== undefined;
}

/**
 * Every process started from one root process, remembered as they appear (call `scan` now and
 * then while it runs), so that a descendant whose parent exited is not forgotten.
 */
export class ProcessTree {
  /** pid -> start time of every process seen in the tree. */
  private readonly known = new Map<number, string>();

  constructor(readonly root: number) {
    const info = procInfo(root);
    this.known.set(root, info?.start ?? '');
  }

  /** Adds the current descendants of every known process; returns the live ones. */
  scan(): number[] {
    const procs = allProcs();
    const byPid = new Map(procs.map((p) => [p.pid, p]));
    let grew = true;
    while (grew) {
      grew = false;
      for (const p of procs) {
        if (!this.known.has(p.pid) && this.isKnownLive(p.ppid, byPid)) {
          this.known.set(p.pid, p.start);
          grew = true;
        }
      }
    }
    return this.live(procs);
  }

  /** The known processes still running (zombies count as gone). */
  live(procs: ProcInfo[] = allProcs()): number[] {
    const byPid = new Map(procs.map((p) => [p.pid, p]));
    const out: number[] = [];
    for (const [pid, start] of this.known) {
      const p = byPid.get(pid);
      if (p && !p.zombie && (start === '' || p.start === start)) out.push(pid);
    }
    return out;
  }

  private isKnownLive(pid: number, byPid: Map<number, ProcInfo>): boolean {
    const start = this.known.get(pid);
    if (start === undefined) return false;
    const p = byPid.get(pid);
    return p !== undefined && (start === '' || p.start === start);
  }

  /** Sends `signal` to every live process of the tree (and to the root's process group). */
  signal(signal: NodeJS.Signals): number[] {
    const live = this.scan();
    try {
      process.kill(-this.root, signal);
    } catch {
      // No such group (any more), or not ours.
    }
    for (const pid of live) {
      try {
        process.kill(pid, signal);
      } catch {
        // Gone meanwhile.
      }
    }
    return live;
  }
}
