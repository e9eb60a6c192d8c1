// The sandbox's flags, shared by `grade` and `check --restart-cmd`: --sandbox and the limits
// (--memory, --pids, --file-size, --open-files, --cpu-time). Their defaults live with the sandbox
// (src/check/sandbox/limits.ts) and are set when the command is used (`sandboxDefaults`).
import { Option, type Command } from 'commander';
import { duration, lateDefault, size, wholeNumber } from './flags.js';

export interface SandboxFlags {
  sandbox: 'auto' | 'bwrap' | 'none';
  memory: number;
  pids: number;
  fileSize: number;
  openFiles: number;
  cpuTime: number;
}

/** Adds --sandbox (defaulting to `mode`) and the limit flags to `command`. */
export function addSandboxOptions(command: Command, mode: 'auto' | 'none', what: string): void {
  command
    .addOption(
      new Option(
        '--sandbox <how>',
        `${what} in a sandbox: auto or bwrap: bubblewrap (the system read-only, the home and other ` +
          `folders hidden, limits), refused where it cannot be made; none: unconfined`,
      )
        .choices(['auto', 'bwrap', 'none'])
        .default(mode),
    )
    .addOption(new Option('--memory <size>', 'sandbox: memory per process (e.g. 512M, 1G)').argParser(size(1024 ** 4)))
    .addOption(new Option('--pids <n>', 'sandbox: processes and threads at once').argParser(wholeNumber(4, 100_000)))
    .addOption(
      new Option('--file-size <size>', 'sandbox: largest file a server may write (e.g. 64M)').argParser(
        size(1024 ** 4),
      ),
    )
    .addOption(new Option('--open-files <n>', 'sandbox: open files per process').argParser(wholeNumber(16, 1_000_000)))
    .addOption(
      new Option('--cpu-time <duration>', 'sandbox: CPU time per process (e.g. 60s, 5m)').argParser(
        duration('s', 1000, 24 * 3_600_000),
      ),
    );
}

/** Sets the limit flags' defaults (shown in the help); call when the command is used. */
export async function sandboxDefaults(command: Command): Promise<void> {
  const { DEFAULT_LIMITS: d, sizeWords } = await import('../check/sandbox/limits.js');
  lateDefault(command, '--memory', d.memoryBytes, sizeWords(d.memoryBytes));
  lateDefault(command, '--pids', d.pids, String(d.pids));
  lateDefault(command, '--file-size', d.fileSizeBytes, sizeWords(d.fileSizeBytes));
  lateDefault(command, '--open-files', d.openFiles, String(d.openFiles));
  lateDefault(command, '--cpu-time', d.cpuSeconds * 1000, `${d.cpuSeconds} s`);
}

/** The limits the flags give. */
export function limitsOf(flags: SandboxFlags): {
  memoryBytes: number;
  pids: number;
  fileSizeBytes: number;
  openFiles: number;
  cpuSeconds: number;
} {
  return {
    memoryBytes: flags.memory,
    pids: flags.pids,
    fileSizeBytes: flags.fileSize,
    openFiles: flags.openFiles,
    cpuSeconds: Math.ceil(flags.cpuTime / 1000),
  };
}
