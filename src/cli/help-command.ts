// `linedrop help [command]`, and the error for a command that does not exist.
import type { Command } from 'commander';
import { nearest } from '../text.js';
import type { CliContext } from './context.js';
import { ExitCode } from './exit-codes.js';

/** Stops with a usage error naming `word` and the command nearest to it, if one is close. */
export function unknownCommand(program: Command, word: string): never {
  const guess = nearest(
    word,
    program.commands.map((c) => c.name()),
  );
  program.error(`error: unknown command '${word}'${guess ? `, did you mean '${guess}'?` : ''}`, {
    code: 'commander.unknownCommand',
    exitCode: ExitCode.Usage,
  });
}

export function register(program: Command, ctx: CliContext): void {
  program.helpCommand(false);
  program
    .command('help')
    .summary('Show the help of linedrop or of one command')
    .description('Show the help of linedrop, or of the command named.')
    .argument('[command]', 'a command, e.g. send')
    .action(async (name: string | undefined) => {
      if (name === undefined) return program.outputHelp();
      const command = program.commands.find((c) => c.name() === name);
      if (!command) unknownCommand(program, name);
      await ctx.prepare(command);
      command.outputHelp();
    });
}
