import { CommandError, UsageError } from './args';
import { serve } from './serve';
import { tokenCommand } from './token-commands';

const HELP = `Usage: gatehouse <command> [flags]

Commands:
  serve [--config FILE]       run the gateway (default config/gatehouse.yaml)
  token create|list|delete    manage API tokens
  help                        show this help

Run 'gatehouse <command> --help' for a command's flags.
Exit status: 0 ok, 1 refused or failed, 2 usage error.
`;

/** The CLI entry: returns the exit status; messages go to stderr. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve': return await serve(rest);
      case 'token': return await tokenCommand(rest);
      case 'help': case '--help': case '-h':
        process.stdout.write(HELP);
        return 0;
      case undefined:
        process.stderr.write(HELP);
        return 2;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`gatehouse: ${err.message}\nRun 'gatehouse --help' for usage.\n`);
      return 2;
    }
    if (err instanceof CommandError) {
      process.stderr.write(`gatehouse: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`gatehouse: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
