import { secretCensor } from '../log-redaction';
import { CommandError, UsageError } from './args';

/** Whatever an error quotes back (an argument, an API answer), a pasted secret is not written to a terminal or CI log. */
const censor = secretCensor('gth_', '[redacted]');

const HELP = `Usage: gatehouse <command> [flags]

Commands:
  serve [--config FILE] [--workers N|auto]
                              run the gateway (default config/gatehouse.yaml)
  login --api-token TOKEN --endpoint URL [--context NAME]
                              check a developer token and make it the current context
  current-context             print the current context as JSON
  list-context                list the saved contexts, the current one marked
  update-current-context NAME switch to another saved context
  token create|list|delete|disable|enable|rotate
                              manage API tokens
  audit list                  who changed which token or Deployment, and when
  deployment list|get|apply|delete
                              manage Deployments
  config check [--config FILE]
                              validate a config file without serving
  --version                   print "gatehouse <version>"
  help                        show this help

Token and deployment commands act on the admin API of the current context
(or of --context NAME), or with --config FILE on that config's store directly.

Run 'gatehouse <command> --help' for a command's flags.
Exit status: 0 ok, 1 refused or failed, 2 usage error.
`;

/** The CLI entry: returns the exit status; messages go to stderr. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      // Each command's modules load on demand: a CLI call starts without the gateway's (or the stores') code.
      case 'serve': return await (await import('./serve')).serve(rest);
      case 'login': return await (await import('./login-commands')).login(rest);
      case 'current-context': return await (await import('./context-commands')).printCurrentContext(rest);
      case 'list-context': return await (await import('./context-commands')).printContexts(rest);
      case 'update-current-context': return await (await import('./context-commands')).updateCurrentContext(rest);
      case 'token': return await (await import('./token-commands')).tokenCommand(rest);
      case 'deployment': return await (await import('./deployment-commands')).deploymentCommand(rest);
      case 'audit': return await (await import('./audit-commands')).auditCommand(rest);
      case 'config': return await (await import('./config-commands')).configCommand(rest);
      case '--version': return (await import('./config-commands')).printVersion();
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
      process.stderr.write(`gatehouse: ${censor(err.message)}\nRun 'gatehouse --help' for usage.\n`);
      return 2;
    }
    if (err instanceof CommandError) {
      process.stderr.write(`gatehouse: ${censor(err.message)}\n`);
      return 1;
    }
    process.stderr.write(`gatehouse: ${censor(err instanceof Error ? err.message : String(err))}\n`);
    return 1;
  }
}
