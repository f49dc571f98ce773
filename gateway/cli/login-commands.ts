import { ApiClient, normalizeEndpoint } from './api-client';
import { CommandError, parse, required } from './args';
import { contextsPath, currentContext, saveContext } from './contexts';

export const LOGIN_HELP = `Usage: gatehouse login --api-token TOKEN --endpoint URL [--context NAME]

Checks a developer token against the admin API (GET /v1/whoami) and saves
it as the current context in $GATEHOUSE_HOME (default ~/.gatehouse, mode 0600).

  --api-token TOKEN   a developer token (gth_...)
  --endpoint URL      the admin listener's base URL, e.g. http://127.0.0.1:9090
  --context NAME      the context's name (default: the organization)
`;

export const CURRENT_CONTEXT_HELP = `Usage: gatehouse current-context

Prints the current context as JSON: {"name", "endpoint", "api_token"}.
`;

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
    if (err instanceof CommandError) throw new CommandError(`login failed: ${err.message}`);
    throw err;
  } finally {
    await client.close();
  }
  saveContext({ name: values.context ?? who.organization, endpoint, api_token: token });
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
