// Shell completion scripts for bash, zsh and fish, generated from the commands and options that
// are registered, so they never fall behind the command line.
import type { Command, Option } from 'commander';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface OptionInfo {
  short?: string;
  long?: string;
  description: string;
  /** Takes a value. */
  value: boolean;
  /** The value is a file (`<file>`) or a folder (`<dir>`). */
  path?: 'file' | 'dir';
  choices?: readonly string[];
}

interface CommandInfo {
  name: string;
  description: string;
  options: OptionInfo[];
  /** Its operands are files. */
  files: boolean;
  /** Its operand is a command name (help) or a shell (completion). */
  words?: readonly string[];
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.replace(/\s+/g, ' ').trim();
}

function optionInfo(option: Option): OptionInfo {
  const value = option.required || option.optional;
  const path = /<(file|dir)>/.exec(option.flags)?.[1] as 'file' | 'dir' | undefined;
  return {
    ...(option.short ? { short: option.short } : {}),
    ...(option.long ? { long: option.long } : {}),
    description: firstLine(option.description),
    value,
    ...(path ? { path } : {}),
    ...(option.argChoices ? { choices: option.argChoices } : {}),
  };
}

const HELP: OptionInfo = { short: '-h', long: '--help', description: 'display help for command', value: false };

function describe(program: Command): CommandInfo[] {
  const names = program.commands.map((c) => c.name());
  return program.commands.map((c) => {
    const name = c.name();
    const words = name === 'help' ? names.filter((n) => n !== 'help') : name === 'completion' ? SHELLS : undefined;
    return {
      name,
      description: firstLine(c.summary() || c.description()),
      options: [...c.options.filter((o) => !o.hidden).map(optionInfo), HELP],
      files: c.registeredArguments.some((a) => /file/.test(a.name())),
      ...(words ? { words } : {}),
    };
  });
}

/** The completion script for `shell`. */
export function completionScript(shell: Shell, program: Command): string {
  const commands = describe(program);
  const top = [...program.options.filter((o) => !o.hidden).map(optionInfo), HELP];
  switch (shell) {
    case 'bash':
      return bash(commands, top);
    case 'zsh':
      return zsh(commands, top);
    case 'fish':
      return fish(commands, top);
  }
}

const flagsOf = (o: OptionInfo): string[] => [o.short, o.long].filter((f): f is string => f !== undefined);

function bash(commands: CommandInfo[], top: OptionInfo[]): string {
  const cases = commands.map((c) => {
    const choices = c.options
      .filter((o) => o.choices)
      .map(
        (o) =>
          `        ${flagsOf(o).join('|')}) COMPREPLY=($(compgen -W ` +
          `"${o.choices!.join(' ')}" -- "$cur")); return ;;`,
      );
    const values = c.options.filter((o) => o.value && !o.choices).flatMap(flagsOf);
    return [
      `    ${c.name})`,
      `      case "$prev" in`,
      ...choices,
      ...(values.length > 0 ? [`        ${values.join('|')}) return ;;`] : []),
      `      esac`,
      `      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${c.options.flatMap(flagsOf).join(' ')}" -- "$cur"))`,
      c.words ? `      else COMPREPLY=($(compgen -W "${c.words.join(' ')}" -- "$cur"))` : '',
      `      fi`,
      `      ;;`,
    ]
      .filter((l) => l !== '')
      .join('\n');
  });
  return `# linedrop completion for bash. Load it with: source <(linedrop completion bash)
_linedrop() {
  local cur prev cmd i
  COMPREPLY=()
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      -*) ;;
      *) cmd="\${COMP_WORDS[i]}"; break ;;
    esac
  done
  case "$cmd" in
    "")
      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${top.flatMap(flagsOf).join(' ')}" -- "$cur"))
      else COMPREPLY=($(compgen -W "${commands.map((c) => c.name).join(' ')}" -- "$cur"))
      fi
      ;;
${cases.join('\n')}
  esac
}
complete -o bashdefault -o default -F _linedrop linedrop
`;
}

/** Text inside single quotes in zsh. */
function zshQuoted(text: string): string {
  return text.replace(/'/g, "'\\''");
}

/** Text inside single quotes and inside `[...]` of an _arguments spec, or before the `:` of a _describe entry. */
function zshText(text: string): string {
  return zshQuoted(text.replace(/([[\]:\\])/g, '\\$1'));
}

function zshSpec(o: OptionInfo): string {
  const action = o.choices
    ? `:value:(${o.choices.join(' ')})`
    : o.path === 'file'
      ? ':file:_files'
      : o.path === 'dir'
        ? ':folder:_files -/'
        : o.value
          ? ':value: '
          : '';
  const flags = flagsOf(o);
  const exclusive = flags.length > 1 ? `'(${flags.join(' ')})'{${flags.join(',')}}` : `'${flags[0]}'`;
  return `${exclusive}'[${zshText(o.description)}]${action}'`;
}

function zsh(commands: CommandInfo[], top: OptionInfo[]): string {
  const list = commands.map((c) => `    '${zshText(c.name)}:${zshQuoted(c.description)}'`).join('\n');
  const cases = commands.map((c) => {
    const operand = c.files ? " '*:file:_files'" : c.words ? ` '1:word:(${c.words.join(' ')})'` : '';
    return `    ${c.name}) _arguments -s ${c.options.map(zshSpec).join(' ')}${operand} ;;`;
  });
  return `#compdef linedrop
# linedrop completion for zsh. Load it with: source <(linedrop completion zsh)
# (or save it as _linedrop in a folder of $fpath).
_linedrop() {
  local -a commands
  commands=(
${list}
  )
  if (( CURRENT == 2 )); then
    if [[ "$words[2]" == -* ]]; then _arguments ${top.map(zshSpec).join(' ')}; else _describe 'command' commands; fi
    return
  fi
  shift words
  (( CURRENT-- ))
  case "$words[1]" in
${cases.join('\n')}
  esac
}
if [[ "$funcstack[1]" == _linedrop ]]; then _linedrop "$@"; else compdef _linedrop linedrop; fi
`;
}

function fishText(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function fishOption(condition: string, o: OptionInfo): string {
  const parts = ['complete -c linedrop', `-n ${fishText(condition)}`];
  if (o.short) parts.push(`-s ${o.short.slice(1)}`);
  if (o.long) parts.push(`-l ${o.long.slice(2)}`);
  if (o.choices) parts.push(`-x -a ${fishText(o.choices.join(' '))}`);
  else if (o.path) parts.push('-r -F');
  else if (o.value) parts.push('-x');
  parts.push(`-d ${fishText(o.description)}`);
  return parts.join(' ');
}

function fish(commands: CommandInfo[], top: OptionInfo[]): string {
  const lines = [
    '# linedrop completion for fish. Load it with: linedrop completion fish | source',
    '# (or save it as ~/.config/fish/completions/linedrop.fish).',
    'complete -c linedrop -f',
    ...top.map((o) => fishOption('__fish_use_subcommand', o)),
    ...commands.map(
      (c) => `complete -c linedrop -n '__fish_use_subcommand' -a ${c.name} -d ${fishText(c.description)}`,
    ),
  ];
  for (const c of commands) {
    const when = `__fish_seen_subcommand_from ${c.name}`;
    lines.push(...c.options.map((o) => fishOption(when, o)));
    if (c.files) lines.push(`complete -c linedrop -n ${fishText(when)} -F`);
    if (c.words) lines.push(`complete -c linedrop -n ${fishText(when)} -a ${fishText(c.words.join(' '))}`);
  }
  return `${lines.join('\n')}\n`;
}
