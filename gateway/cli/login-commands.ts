import { ApiClient, ApiError, normalizeEndpoint } from './api-client';
import { CommandError, parse, required } from './args';
import { saveContext } from './contexts';

export const LOGIN_HELP = `Usage: gatehouse login --api-token TOKEN --endpoint URL [--context NAME]

Checks a developer token against the admin API (GET /v1/whoami) and saves
it as the current context in $GATEHOUSE_HOME (default ~/.gatehouse, mode 0600).

  --api-token TOKEN   a developer token (gth_...)
  --endpoint URL      the admin listener's base URL, e.g. http://127.0.0.1:9090
  --context NAME      the context's name (default: default)
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
