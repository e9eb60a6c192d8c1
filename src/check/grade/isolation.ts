// Network namespaces for grading in parallel: each submission gets a loopback of its own, so every
// one keeps the port it hard-codes (the lab's 12100) and none sees another's. Linux only: as root
// with `unshare --net`, otherwise with an unprivileged user namespace (`unshare -r --net`).
// A new PID namespace comes with it: when its first process ends, the kernel ends every process
// in it, so nothing a submission started outlives its grading.
import { tryCommand } from '../try-command.js';

/** Brings the namespace's loopback up, then runs the rest of the arguments (as a child, so that
 * this shell, the namespace's first process, reaps whatever is orphaned in it). */
const SETUP =
  'ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null || { echo "cannot bring up ' +
  'lo in the network namespace" >&2; exit 120; }; "$@" & wait $!';

export interface Namespaces {
  /** `unshare` and its flags, ready to put before a command. */
  prefix: string[];
  /** How they are made, for people: `unshare --net (as root)`. */
  how: string;
}

const BASE = ['--net', '--pid', '--fork', '--kill-child', '--mount-proc'];

function candidates(): { prefix: string[]; how: string }[] {
  const root = process.getuid?.() === 0;
  const user = {
    prefix: ['unshare', '--user', '--map-root-user', ...BASE],
    how: 'unshare --user --map-root-user --net (unprivileged user namespaces)',
  };
  return root ? [{ prefix: ['unshare', ...BASE], how: 'unshare --net (as root)' }, user] : [user];
}

/** The argv that runs `argv` inside a fresh network (and PID) namespace with its loopback up. */
export function inNamespace(ns: Namespaces, argv: readonly string[]): string[] {
  return [...ns.prefix, 'sh', '-c', SETUP, 'sh', ...argv];
}

async function works(argv: string[]): Promise<boolean> {
  return (await tryCommand(argv, 5000)).code === 0;
}

/** Whether namespaces can be made here, and how; null where they cannot (not Linux, no permission, no `unshare`). */
export async function findNamespaces(): Promise<Namespaces | null> {
  if (process.platform !== 'linux') return null;
  for (const c of candidates()) {
    if (await works(inNamespace(c, ['true']))) return c;
  }
  return null;
}
