// The `linedrop` command line: a hub that registers each command's module.
import { Command, CommanderError } from 'commander';
import { register as registerCheck } from './check/check-command.js';
import { register as registerCheckClient } from './check/check-client-command.js';
import { register as registerCompletion } from './completion-command.js';
import { register as registerGrade } from './grade/grade-command.js';
import { register as registerHelp, unknownCommand } from './help-command.js';
import { register as registerReceive } from './receive/receive-command.js';
import { register as registerSend } from './send/send-command.js';
import type { CliContext, CliIO } from './context.js';
import { ExitCode } from './exit-codes.js';
import { strictBooleanEnv } from './flags.js';
import { LineInput } from './line-input.js';
import { version } from './version.js';

/** Every command, in the order `--help` lists them. */
const COMMANDS: ((program: Command, ctx: CliContext) => void)[] = [
  registerSend,
  registerReceive,
  registerCheck,
  registerCheckClient,
  registerGrade,
  registerCompletion,
  registerHelp,
];

/**
 * The process's own streams, each made when first used: Node.js sets up standard input (a terminal,
 * pipe or file reader) only when asked for it, and most commands never read it.
 */
const PROCESS_IO: CliIO = {
  get stdin() {
    return process.stdin;
  },
  get stdout() {
    return process.stdout;
  },
  get stderr() {
    return process.stderr;
  },
};

/**
 * The `linedrop` command line. Returns the exit status instead of exiting, so tests can call it
 * in process; `bin/linedrop.js` passes it to `process.exitCode`.
 */
export async function main(argv: string[], io: CliIO = PROCESS_IO): Promise<number> {
  let input: LineInput | undefined;
  let code: number = ExitCode.Ok;
  const preparers = new Map<Command, () => Promise<void>>();
  const prepared = new Map<Command, Promise<void>>();
  const ctx: CliContext = {
    io,
    lineInput: () => (input ??= new LineInput(io.stdin)),
    setExitCode: (c) => (code = c),
    whenUsed: (command, prepare) => void preparers.set(command, prepare),
    prepare: (command) => {
      let done = prepared.get(command);
      if (!done) prepared.set(command, (done = preparers.get(command)?.() ?? Promise.resolve()));
      return done;
    },
  };

  const program = new Command('linedrop')
    .description(
      "Send and receive text files over TCP with the networking lab's line-count protocol.\nWith no " +
        "command: the lab program's menu (send or receive).",
    )
    .version(version(), '-V, --version', 'print the version and exit')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(run linedrop --help for usage)')
    .addHelpText(
      'after',
      '\nExit status (every command): 0 done, 1 not everything was accepted (or a check failed), 2 usage error,\n' +
        '3 cannot connect or listen, 4 connection lost, 130 interrupted. `linedrop help <command>` says more.',
    );
  for (const register of COMMANDS) register(program, ctx);
  program.allowExcessArguments(true).action(async () => {
    const [word] = program.args;
    if (word === undefined) return (await import('./menu.js')).runMenu(ctx);
    unknownCommand(program, word);
  });
  strictBooleanEnv(program);
  program.hook('preSubcommand', (_program, command) => ctx.prepare(command));

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    throw e;
  }
  return code;
}
