import { parseDuration } from '../config/duration';
import { CommandError, parse, table, UsageError } from './args';
import { TARGET_FLAGS, TARGET_HELP, withBackend, type DeploymentFields, type DeploymentJson } from './backend';
import { runGroup, type CommandGroup } from './subcommands';

const DEPLOYMENT: CommandGroup = {
  name: 'deployment',
  note: `Deployments named in the config file are managed there and cannot be changed here.\n${TARGET_HELP}`,
  subcommands: {
    list: {
      usage: 'list [--json] [--config FILE | --context NAME]',
      summary: 'Lists the Deployments: config-managed and store-managed ones.',
      run: list,
    },
    get: {
      usage: 'get NAME [--json] [--config FILE | --context NAME]',
      summary: 'Shows one Deployment.',
      run: show,
    },
    apply: {
      usage: `apply NAME [--access private|protected|public] [--protocol http|grpc]
      [--upstream URL]... [--host HOST]... [--forward-authorization | --no-forward-authorization]
      [--connect-timeout D] [--response-timeout D] [--idle-timeout D]
      [--json] [--config FILE | --context NAME]`,
      summary: 'Creates the Deployment (--access and --upstream needed) or changes only the fields given.',
      flags: `  --access A                    private, protected or public
  --protocol P                  http (default) or grpc
  --upstream URL                an upstream origin (repeatable; replaces the list)
  --host HOST                   an extra host name (repeatable; replaces the list)
  --forward-authorization       keep the client's Authorization header upstream
  --no-forward-authorization    remove it (the default)
  --connect-timeout D           upstream connect timeout, e.g. 5s
  --response-timeout D          until the upstream's response headers, e.g. 600s
  --idle-timeout D              longest silence inside a body, e.g. 5m
                                (a timeout not given keeps its value; unset ones use the config's)`,
      run: apply,
    },
    delete: {
      usage: 'delete NAME [--config FILE | --context NAME]',
      summary: 'Deletes a store-managed Deployment.',
      run: remove,
    },
  },
};

export function deploymentCommand(argv: string[]): Promise<number> {
  return runGroup(DEPLOYMENT, argv);
}

function nameFrom(positionals: string[], command: string): string {
  const name = positionals[0];
  if (!name) throw new UsageError(`missing Deployment NAME: gatehouse deployment ${command} NAME`);
  return name;
}

function describe(d: DeploymentJson): string {
  const timeouts = Object.entries(d.timeouts).map(([k, v]) => `${k}=${v}`).join(', ');
  return [
    `Name:          ${d.name}`,
    `Access:        ${d.access}`,
    `Protocol:      ${d.protocol}`,
    `Upstreams:     ${d.upstreams.join(', ')}`,
    `Hosts:         ${[d.default_host, ...d.hosts].join(', ')}`,
    `Forward auth:  ${d.forward_authorization ? 'yes' : 'no'}`,
    `Timeouts:      ${timeouts || 'defaults'}`,
    `Managed by:    ${d.config_managed ? 'config file' : 'store (API)'}`,
  ].join('\n') + '\n';
}

async function list(argv: string[]): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean' }, ...TARGET_FLAGS });
  return withBackend(values, async (backend) => {
    const deployments = await backend.listDeployments();
    if (values.json) {
      process.stdout.write(JSON.stringify({ deployments }, null, 2) + '\n');
      return 0;
    }
    const rows = deployments.map((d) => [
      d.name, d.access, d.protocol, d.upstreams.join(','), [d.default_host, ...d.hosts].join(','), d.config_managed ? 'config' : 'store',
    ]);
    process.stdout.write(table(['NAME', 'ACCESS', 'PROTOCOL', 'UPSTREAMS', 'HOSTS', 'MANAGED BY'], rows));
    return 0;
  });
}

async function show(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' }, ...TARGET_FLAGS }, 1);
  const name = nameFrom(positionals, 'get');
  return withBackend(values, async (backend) => {
    const deployment = await backend.getDeployment(name);
    if (deployment === null) throw new CommandError(`no Deployment named "${name}"`);
    process.stdout.write(values.json ? JSON.stringify({ deployment }, null, 2) + '\n' : describe(deployment));
    return 0;
  });
}

const TIMEOUT_FLAGS = ['connect', 'response', 'idle'] as const;

async function apply(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    access: { type: 'string' },
    protocol: { type: 'string' },
    upstream: { type: 'string', multiple: true },
    host: { type: 'string', multiple: true },
    'forward-authorization': { type: 'boolean' },
    'no-forward-authorization': { type: 'boolean' },
    'connect-timeout': { type: 'string' },
    'response-timeout': { type: 'string' },
    'idle-timeout': { type: 'string' },
    json: { type: 'boolean' },
    ...TARGET_FLAGS,
  }, 1);
  const name = nameFrom(positionals, 'apply');
  const fields: DeploymentFields = {};
  if (values.access !== undefined) fields.access = values.access;
  if (values.protocol !== undefined) fields.protocol = values.protocol;
  if (values.upstream !== undefined) fields.upstreams = values.upstream;
  if (values.host !== undefined) fields.hosts = values.host;
  if (values['forward-authorization'] && values['no-forward-authorization']) throw new UsageError('--forward-authorization and --no-forward-authorization exclude each other');
  if (values['forward-authorization'] || values['no-forward-authorization']) fields.forward_authorization = values['forward-authorization'] === true;
  const timeouts: Record<string, string> = {};
  for (const key of TIMEOUT_FLAGS) {
    const value = values[`${key}-timeout`];
    if (value === undefined) continue;
    const ms = parseDuration(value);
    if (ms === undefined || ms <= 0) throw new UsageError(`--${key}-timeout must be a duration like 5s, 600s or 5m (got "${value}")`);
    timeouts[key] = value;
  }
  if (Object.keys(fields).length === 0 && Object.keys(timeouts).length === 0) {
    throw new UsageError('nothing to apply: give --access, --protocol, --upstream, --host, --[no-]forward-authorization or a --*-timeout');
  }
  return withBackend(values, async (backend) => {
    // The API replaces `timeouts` whole: keep the ones not given.
    if (Object.keys(timeouts).length > 0) fields.timeouts = { ...(await backend.getDeployment(name))?.timeouts, ...timeouts };
    const { deployment, created } = await backend.applyDeployment(name, fields);
    if (values.json) process.stdout.write(JSON.stringify({ deployment, created }, null, 2) + '\n');
    else process.stdout.write(`${created ? 'Created' : 'Updated'} Deployment "${deployment.name}" (${deployment.access}, ${deployment.protocol}).\n`);
    return 0;
  });
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, TARGET_FLAGS, 1);
  const name = nameFrom(positionals, 'delete');
  return withBackend(values, async (backend) => {
    if (!(await backend.deleteDeployment(name))) throw new CommandError(`no Deployment named "${name}"`);
    process.stdout.write(`Deleted Deployment ${name}.\n`);
    return 0;
  });
}
