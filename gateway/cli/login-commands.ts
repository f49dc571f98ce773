import { ApiClient, ApiError, normalizeEndpoint } from './api-client';
import { CommandError, parse, required, table, UsageError } from './args';
import { contextsPath, currentContext, listContexts, saveContext, useContext } from './contexts';

export const LOGIN_HELP = `Usage: gatehouse login --api-token TOKEN --endpoint URL [--context NAME]

Checks a developer token against the admin API (GET /v1/whoami) and saves
it as the current context in $GATEHOUSE_HOME (default ~/.gatehouse, mode 0600).

  --api-token TOKEN   a developer token (gth_...)
  --endpoint URL      the admin listener's base URL, e.g. http://127.0.0.1:9090
  --context NAME      the context's name (default: default)
`;

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

const DEFAULT_CONTEXT = 'default';

interface Whoami {
  user: string;
  organization: string;
}

export async function login(argv: string[]): Promise<number> {
  const { values } = parse(argv, { 'api-token': { type: 'string' }, endpoint: { type: 'string' }, context: { type: 'string' } });
  if (values.help) {
    process.stdout.write(LOGIN_HELP);
    return 0;
  }
  const token = required(values['api-token'], '--api-token');
  const endpoint = normalizeEndpoint(required(values.endpoint, '--endpoint'));
  const client = new ApiClient(endpoint, token);
  let who: Whoami;
  try {
    who = await client.call<Whoami>('GET', '/v1/whoami');
  } catch (err) {
    // Every admin listener answers /v1/whoami: a 404 is another kind of listener, or not Gatehouse.
    if (err instanceof ApiError && err.status === 404) {
      throw new CommandError(`login failed: ${endpoint} is not a Gatehouse admin listener (GET /v1/whoami: 404${err.code ? ` ${err.code}` : ''}, `
        + 'as an external or internal listener answers). --endpoint is the admin listener\'s URL: listeners.admin in the config, '
        + 'http://127.0.0.1:9090 in the example configs');
    }
    if (err instanceof CommandError) throw new CommandError(`login failed: ${err.message}`);
    throw err;
  } finally {
    await client.close();
  }
  saveContext({ name: values.context ?? DEFAULT_CONTEXT, endpoint, api_token: token });
  process.stdout.write(`Successfully logged in as user "${who.user}" in organization "${who.organization}".\n`);
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
