import { CommandError, parse, table, UsageError } from './args';
import { contextsPath, currentContext, listContexts, useContext } from './contexts';

export const LIST_CONTEXT_HELP = `Usage: gatehouse list-context [--json]

Lists the saved contexts (name, endpoint); the current one is marked with *.
`;

export const UPDATE_CURRENT_CONTEXT_HELP = `Usage: gatehouse update-current-context NAME

Makes the saved context NAME the current one. An unknown NAME changes nothing (exit 1).
Any token or deployment command also takes --context NAME for one call.
`;

export const CURRENT_CONTEXT_HELP = `Usage: gatehouse current-context

Prints the current context as JSON: {"name", "endpoint", "api_token"}.
`;

export async function printContexts(argv: string[]): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(LIST_CONTEXT_HELP);
    return 0;
  }
  const { current, contexts } = listContexts();
  if (values.json) {
    // The list is for choosing a context: no tokens in it (current-context prints the current one's).
    process.stdout.write(JSON.stringify({ current, contexts: contexts.map(({ name, endpoint }) => ({ name, endpoint })) }, null, 2) + '\n');
    return 0;
  }
  if (contexts.length === 0) {
    process.stdout.write(`No saved contexts in ${contextsPath()}: "gatehouse login --api-token TOKEN --endpoint URL" saves one.\n`);
    return 0;
  }
  process.stdout.write(table(['CURRENT', 'NAME', 'ENDPOINT'], contexts.map((c) => [c.name === current ? '*' : '', c.name, c.endpoint])));
  return 0;
}

export async function updateCurrentContext(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {}, 1);
  if (values.help) {
    process.stdout.write(UPDATE_CURRENT_CONTEXT_HELP);
    return 0;
  }
  const name = positionals[0];
  if (!name) throw new UsageError('missing context NAME: gatehouse update-current-context NAME (gatehouse list-context shows them)');
  const context = useContext(name);
  process.stdout.write(`Switched to context "${context.name}" (${context.endpoint}).\n`);
  return 0;
}

export async function printCurrentContext(argv: string[]): Promise<number> {
  const { values } = parse(argv, {});
  if (values.help) {
    process.stdout.write(CURRENT_CONTEXT_HELP);
    return 0;
  }
  const context = currentContext();
  if (context === null) throw new CommandError(`no current context in ${contextsPath()}: run "gatehouse login --api-token TOKEN --endpoint URL"`);
  const { name, endpoint, api_token } = context;
  process.stdout.write(JSON.stringify({ name, endpoint, api_token }, null, 2) + '\n');
  return 0;
}
