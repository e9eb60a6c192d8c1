// The `linedrop` command line: a hub that registers each command's module.
import { Command, CommanderError } from 'commander';
import type { CliContext, CliIO } from './context.js';
import { register as registerCheck } from './commands/check.js';
import { register as registerCheckClient } from './commands/check-client.js';
import { register as registerGrade } from './commands/grade.js';
import { register as registerReceive } from './commands/receive.js';
import { register as registerSend } from './commands/send.js';
import { ExitCode } from './exit-codes.js';
import { LineInput } from './line-input.js';
import { runMenu } from './menu.js';

export type { CliContext, CliIO } from './context.js';

/** Every command, in the order `--help` lists them. */
const COMMANDS: ((program: Command, ctx: CliContext) => void)[] = [registerSend, registerReceive, registerCheck, registerCheckClient, registerGrade];

/**
 * The `linedrop` command line. Returns the exit status instead of exiting, so tests can call it
 * in process; `bin/linedrop.js` passes it to `process.exitCode`.
 */
export async function main(argv: string[], io: CliIO = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let input: LineInput | undefined;
  let code: number = ExitCode.Ok;
  const ctx: CliContext = {
    io,
    lineInput: () => (input ??= new LineInput(io.stdin)),
    setExitCode: (c) => (code = c),
  };

  const program = new Command('linedrop')
    .description('Send and receive text files over TCP with the networking lab\'s line-count protocol.\nWith no command: the lab program\'s menu (send or receive).')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run linedrop --help for usage)')
    .action(() => runMenu(ctx));
  for (const register of COMMANDS) register(program, ctx);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    throw e;
  }
  return code;
}
