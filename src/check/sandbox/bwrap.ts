// How a sandboxed server is started: the bubblewrap (bwrap) command line around the server's own
// argv. The system is read-only; the home folders, the other submissions, the output folder and
// linedrop itself are hidden under empty read-only folders; only the working folder (and the
// server's log) and a private /tmp, /var/tmp and /dev/shm are writable. The server gets its own
// user, PID, IPC and UTS namespaces (the network namespace is the caller's: inside `grade`'s, a
// loopback of its own), no capabilities, no further user namespaces, and the limits as rlimits set
// inside its user namespace (where RLIMIT_NPROC counts its processes only).
import { lstatSync } from 'node:fs';
import type { SandboxLimits } from './limits.js';
import { KILLED_NOTE } from './limits.js';

/** A sandbox as JSON (grade's checker gets it in its options and builds its `wrapServer` from it). */
export interface SandboxSpec {
  kind: 'bwrap';
  /** The bwrap program. */
  bwrap: string;
  /** Folders the server may write (its working folder), bound at the same path. */
  writable: string[];
  /** Files the server may write (its log), bound at the same path. */
  writableFiles: string[];
  /** Folders hidden under empty read-only ones (homes, the class, the output folder, linedrop). */
  hidden: string[];
  limits: SandboxLimits;
  /** Run as this uid and gid (when linedrop runs as root, so that the process limit applies). */
  user?: { uid: number; gid: number };
  /** Where a note is appended when the server is killed by a signal (SIGXFSZ, SIGXCPU, ...). */
  log?: string;
}

/** The private writable folders every sandbox has. */
const PRIVATE = ['/tmp', '/var/tmp', '/dev/shm'];
/** Hidden in every sandbox: the homes, runtime sockets, mail. */
export const ALWAYS_HIDDEN = [
  '/home',
  '/root',
  '/run',
  '/var/run',
  '/var/mail',
  '/var/spool',
  '/mnt',
  '/media',
  '/srv',
];

/** The system the servers run on: never hidden, nor a folder that holds one of these. */
const SYSTEM = [
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/etc',
  '/proc',
  '/dev',
  '/sys',
  '/var',
  '/opt',
  '/nix',
  '/gnu',
];
/** Mounted by the sandbox itself: nothing inside them is hidden. */
const MOUNTED = ['/proc', '/dev', '/sys'];

/** Whether a sandbox may hide `path`: not the system, a folder holding it, nor a path in /proc, /dev or /sys. */
export function mayHide(path: string): boolean {
  const holds = (outer: string, inner: string): boolean =>
    outer === inner || outer === '/' || inner.startsWith(`${outer}/`);
  return !SYSTEM.some((sys) => holds(path, sys)) && !MOUNTED.some((m) => holds(m, path));
}

/** A folder (not a link to one): what a tmpfs can be mounted over. */
function isFolder(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Paths with none inside another, shortest first (a mount over a folder covers what is in it). */
function outermost(paths: readonly string[]): string[] {
  const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length);
  const out: string[] = [];
  for (const p of sorted) {
    if (!out.some((o) => o === '/' || p === o || p.startsWith(`${o}/`))) out.push(p);
  }
  return out;
}

/** The shell run inside the sandbox around the server: notes a death by signal in the log. */
function noteDeath(log: string | undefined): string[] {
  if (log === undefined) return [];
  const script =
    `"$@"; s=$?; if [ "$s" -gt 128 ]; then echo "${KILLED_NOTE} SIG$(kill -l "$s" ` +
    `2>/dev/null || echo $((s - 128)))" >>"$LINEDROP_LOG" 2>/dev/null; fi; exit "$s"`;
  return ['env', `LINEDROP_LOG=${log}`, 'sh', '-c', script, 'sh'];
}

/** The argv that runs `argv` in the sandbox `spec` describes. */
export function sandboxArgv(spec: SandboxSpec, argv: readonly string[]): string[] {
  const { limits: l } = spec;
  const out: string[] = [];
  if (spec.user) out.push('setpriv', `--reuid=${spec.user.uid}`, `--regid=${spec.user.gid}`, '--clear-groups', '--');
  out.push(
    spec.bwrap,
    '--unshare-user',
    '--disable-userns',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
  );
  out.push(
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--ro-bind',
    '/',
    '/',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
  );
  const hidden = outermost(
    [...ALWAYS_HIDDEN, ...spec.hidden].filter((p) => !PRIVATE.includes(p) && mayHide(p) && isFolder(p)),
  );
  for (const p of PRIVATE) out.push('--size', String(l.memoryBytes), '--tmpfs', p);
  for (const p of hidden) out.push('--tmpfs', p);
  for (const p of spec.writable) out.push('--bind', p, p);
  for (const p of spec.writableFiles) out.push('--bind', p, p);
  // Read-only once the binds inside them are made (the remount does not reach the binds).
  for (const p of hidden) out.push('--remount-ro', p);
  if (spec.writable[0] !== undefined) out.push('--chdir', spec.writable[0]);
  out.push(
    '--',
    'prlimit',
    `--nproc=${l.pids}`,
    `--data=${l.memoryBytes}`,
    `--fsize=${l.fileSizeBytes}`,
    `--nofile=${l.openFiles}`,
  );
  // The soft CPU limit sends SIGXCPU, the hard one a second later SIGKILL.
  out.push(`--cpu=${l.cpuSeconds}:${l.cpuSeconds + 1}`, '--core=0', '--');
  out.push(...noteDeath(spec.log), ...argv);
  return out;
}

/** The `wrapServer` of a sandbox: every start of the server in it. */
export function sandboxWrap(spec: SandboxSpec): (argv: string[], start: number) => string[] {
  return (argv) => sandboxArgv(spec, argv);
}
