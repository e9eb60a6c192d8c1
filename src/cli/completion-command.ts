// `linedrop completion bash|zsh|fish`: print the shell's completion script.
import { Argument, type Command } from 'commander';
import type { Shell } from './completion.js';
import type { CliContext } from './context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('completion')
    .summary('Print the shell completion script for bash, zsh or fish')
    .description(
      'Print the completion script for a shell, made from the commands and options of this version.\n' +
        '  bash: source <(linedrop completion bash)        (or add that line to ~/.bashrc)\n' +
        '  zsh:  source <(linedrop completion zsh)         (or add that line to ~/.zshrc, after compinit)\n' +
        '  fish: linedrop completion fish > ~/.config/fish/completions/linedrop.fish',
    )
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .action(async (shell: Shell) => {
      const { completionScript } = await import('./completion.js');
      ctx.io.stdout.write(completionScript(shell, program));
    });
}
