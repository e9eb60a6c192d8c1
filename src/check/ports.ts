// Which TCP ports a server listens on, and whether its processes are waiting for a connection,
// read from /proc (Linux) without ever connecting: a lab server serves one connection, and a
// probe would use it up. Two ways to tell the server's listening sockets from the machine's:
// - inside a network namespace of its own (grade's), every listening socket in the namespace is
//   the server's (the checker listens on nothing): the namespace's /proc/net/tcp and tcp6;
// - otherwise the sockets its processes hold: /proc/<pid>/fd/* links `socket:[inode]`, matched
//   against the inodes of the listening sockets in /proc/net/tcp and tcp6.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';

/** A listening TCP socket. */
export interface Listener {
  /** The address it is bound to, as people write it: `0.0.0.0`, `127.0.0.1`, `::`. */
  address: string;
  port: number;
  family: 4 | 6;
  /** The socket's inode number (the link in /proc/<pid>/fd). */
  inode: string;
}

/** The kernel's TCP state of a listening socket in /proc/net/tcp. */
const LISTEN = '0A';

/** `0100007F` (little-endian, as /proc/net/tcp has it) -> `127.0.0.1` */
function ipv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

/** 32 hex digits, four 32-bit words each in little-endian order -> `::1`, `fe80::1`, `::ffff:127.0.0.1` */
function ipv6(hex: string): string {
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(Number.parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff)
    return `::ffff:${bytes.slice(12).join('.')}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // The longest run of zero groups (two or more) becomes `::`.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const text = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  return best < 0 ? text(groups) : `${text(groups.slice(0, best))}::${text(groups.slice(best + bestLen))}`;
}

/** The listening sockets in the text of /proc/net/tcp (`family` 4) or /proc/net/tcp6 (6). */
export function parseProcNetTcp(text: string, family: 4 | 6): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== LISTEN) continue;
    const [addr, port] = f[1]!.split(':');
    if (addr === undefined || port === undefined) continue;
    out.push({
      address: family === 4 ? ipv4(addr) : ipv6(addr),
      port: Number.parseInt(port, 16),
      family,
      inode: f[9]!,
    });
  }
  return out;
}

/** Every listening TCP socket in this process's network namespace ([] without /proc). */
export function listenersHere(): Listener[] {
  const out: Listener[] = [];
  for (const [file, family] of [
    ['/proc/net/tcp', 4],
    ['/proc/net/tcp6', 6],
  ] as const) {
    try {
      out.push(...parseProcNetTcp(readFileSync(file, 'latin1'), family));
    } catch {
      // No /proc, or no IPv6.
    }
  }
  return out;
}

/** fd number -> socket inode, for one process; undefined when its descriptors cannot be read (gone, or not ours). */
export function socketFds(pid: number): Map<number, string> | undefined {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  const out = new Map<number, string>();
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.set(Number(fd), m[1]!);
    } catch {
      // Closed meanwhile.
    }
  }
  return out;
}

/** The inodes of the sockets the processes hold open (those whose descriptors can be read). */
export function socketInodes(pids: readonly number[]): Set<string> {
  const inodes = new Set<string>();
  for (const pid of pids) for (const inode of socketFds(pid)?.values() ?? []) inodes.add(inode);
  return inodes;
}

export interface FindListeners {
  /** The server's live processes. */
  pids: readonly number[];
  /** The server has the network namespace to itself (and the checker): every listening socket in it is the server's. */
  ownNetwork?: boolean;
}

/**
 * The TCP sockets the server listens on, lowest port first (IPv4 before IPv6 for the same port):
 * every one in its own network namespace, else those its processes hold.
 */
export function findListeners({ pids, ownNetwork }: FindListeners): Listener[] {
  const all = listenersHere();
  const mine = ownNetwork
    ? all
    : (() => {
        const inodes = socketInodes(pids);
        return all.filter((l) => inodes.has(l.inode));
      })();
  return mine.sort((a, b) => a.port - b.port || a.family - b.family);
}

/**
 * The address the checker connects to for a listener: any-address and loopback ones on the loopback, others as they
 * are.
 */
export function connectHost(l: Listener, preferred: string): string {
  if (l.family === 4) {
    if (l.address === '0.0.0.0') return isIPv4(preferred) ? preferred : '127.0.0.1';
    return l.address;
  }
  if (l.address === '::') return isIPv6(preferred) ? preferred : '::1';
  if (l.address.startsWith('::ffff:')) return l.address.slice(7);
  return l.address;
}
