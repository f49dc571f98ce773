import { UsageError } from './args';

/** One subcommand of a group (`token create`): its help and what it runs. */
export interface Subcommand {
  /** The synopsis after `gatehouse <group>`, e.g. `create --name N [--json]` (lines after the first are indented). */
  readonly usage: string;
  /** One line for the group's list. */
  readonly summary: string;
  /** What `<group> <sub> --help` adds below the synopsis: the flags, one per line. */
  readonly flags?: string;
  run(argv: string[]): Promise<number>;
}

/** A command group (`token`, `deployment`): its subcommands, in the order the help lists them, and a closing note. */
export interface CommandGroup {
  readonly name: string;
  readonly subcommands: Readonly<Record<string, Subcommand>>;
  readonly note: string;
}

const indent = (text: string, by: string): string => text.split('\n').map((line) => by + line).join('\n');

export function groupHelp(group: CommandGroup): string {
  const entries = Object.values(group.subcommands).map((s) => `${indent(s.usage, '  ')}\n${indent(s.summary, '      ')}`);
  return `Usage: gatehouse ${group.name} <command> [flags]\n\nCommands:\n${entries.join('\n')}\n\n${group.note}\n`
    + `Run 'gatehouse ${group.name} <command> --help' for one command's flags.\n`;
}

export function subcommandHelp(group: CommandGroup, sub: Subcommand): string {
  const usage = sub.usage.split('\n').map((line, i) => (i === 0 ? line : `  ${line.trimStart()}`)).join('\n');
  return `Usage: gatehouse ${group.name} ${usage}\n\n${sub.summary}\n${sub.flags ? `\n${sub.flags}\n` : ''}\n${group.note}\n`;
}

/**
 * Runs `gatehouse <group> <sub> ...`. `--help` (or `-h`) anywhere after the
 * subcommand prints that subcommand's help only; no subcommand prints the
 * group's help (to stderr, exit 2, as a usage error).
 */
export async function runGroup(group: CommandGroup, argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? process.stderr : process.stdout).write(groupHelp(group));
    return name === undefined ? 2 : 0;
  }
  const sub = Object.hasOwn(group.subcommands, name) ? group.subcommands[name] : undefined;
  if (sub === undefined) {
    const known = Object.keys(group.subcommands);
    throw new UsageError(`unknown ${group.name} command "${name}" (expected ${known.slice(0, -1).join(', ')} or ${known.at(-1)})`);
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(subcommandHelp(group, sub));
    return 0;
  }
  return sub.run(rest);
}
