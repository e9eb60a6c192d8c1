// Whether a sandbox can be made here, and why not: bwrap on PATH, Linux, user namespaces (tried
// for real, inside the namespace the server will run in), and the refusal's words with the fix.
import { LinedropError } from '../../errors.js';
import { access, constants, lstat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { tryCommand } from '../try-command.js';
import { sandboxArgv, type SandboxSpec } from './bwrap.js';
import { DEFAULT_LIMITS } from './limits.js';

/**
 * `auto`: the best sandbox there is (today bwrap), refused where none can be made; `bwrap`: the same, by name; `none`:
 * none.
 */
export type SandboxMode = 'auto' | 'bwrap' | 'none';
export const SANDBOX_MODES: readonly SandboxMode[] = ['auto', 'bwrap', 'none'];

/** No sandbox can be made: `message` says why and what to do. */
/** No sandbox can be made here (no bwrap, no user namespaces, not Linux): the message says why and what to do. */
export class NoSandboxError extends LinedropError<'LINEDROP_ERR_NO_SANDBOX'> {
  override name = 'NoSandboxError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('LINEDROP_ERR_NO_SANDBOX', message, options);
  }
}

/** The uid and gid a sandbox runs as when linedrop runs as root (nobody), so that the process limit applies. */
export const SANDBOX_USER = { uid: 65534, gid: 65534 };

const INSTALL =
  'install bubblewrap (Debian, Ubuntu: apt-get install bubblewrap; Fedora: dnf ' +
  'install bubblewrap; Arch: pacman -S bubblewrap)';
const USERNS =
  'enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 on Debian; on ' +
  'Ubuntu 24.04 and later, sysctl kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor ' +
  'profile that allows bwrap; in a container, allow user namespaces in its seccomp profile)';
const NONE = '; or give --sandbox none to run the submissions unconfined, as the user running linedrop';

/** The path of `name` on PATH, or undefined. */
export async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // Not there.
    }
  }
  return undefined;
}

/** Runs argv; resolves with whether it exited 0 and what it printed on standard error (or why it could not start). */
async function run(argv: string[]): Promise<{ ok: boolean; stderr: string }> {
  const tried = await tryCommand(argv, 10_000);
  return tried.error
    ? { ok: false, stderr: tried.error.message }
    : { ok: tried.code === 0, stderr: tried.stderr.trim() };
}

/** Folders that exist and are folders (not links): those a sandbox can hide. */
export async function existingFolders(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    try {
      if ((await lstat(p)).isDirectory()) out.push(p);
    } catch {
      // Not there: nothing to hide.
    }
  }
  return out;
}

/** A sandbox with nothing of its own to bind: what the probe runs `true` in. */
function probeSpec(bwrap: string): SandboxSpec {
  const root = process.getuid?.() === 0;
  return {
    kind: 'bwrap',
    bwrap,
    writable: [],
    writableFiles: [],
    hidden: [],
    limits: { ...DEFAULT_LIMITS },
    ...(root ? { user: SANDBOX_USER } : {}),
  };
}

/**
 * The bwrap program when `mode` asks for a sandbox and one can be made, null for `none`; throws
 * NoSandboxError with the reason and the fix otherwise. `outer` puts the probe where the servers will
 * run (inside grade's network namespace).
 */
export async function findSandbox(
  mode: SandboxMode,
  outer: (argv: string[]) => string[] = (a) => a,
): Promise<string | null> {
  if (mode === 'none') return null;
  if (process.platform !== 'linux') {
    throw new NoSandboxError(
      `no sandbox can be made on ${process.platform}: linedrop sandboxes submissions with ` +
        `bubblewrap, which needs Linux; grade on Linux${NONE}`,
    );
  }
  const bwrap = await onPath('bwrap');
  if (!bwrap)
    throw new NoSandboxError(`no sandbox can be made: bubblewrap (bwrap) is not installed; ${INSTALL}${NONE}`);
  for (const tool of ['prlimit', ...(process.getuid?.() === 0 ? ['setpriv'] : [])]) {
    if (!(await onPath(tool)))
      throw new NoSandboxError(
        `no sandbox can be made: ${tool} (util-linux) is not installed; install util-linux${NONE}`,
      );
  }
  const probe = await run(outer(sandboxArgv(probeSpec(bwrap), ['true'])));
  if (!probe.ok) {
    const why = probe.stderr.split('\n').slice(-2).join(' ') || 'it failed without a word';
    throw new NoSandboxError(`no sandbox can be made: bwrap could not make one here (${why}); ${USERNS}${NONE}`);
  }
  return bwrap;
}
