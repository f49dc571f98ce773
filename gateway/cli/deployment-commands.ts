import { CommandError, parse, table, UsageError } from './args';
import { backendFor, type Backend, type DeploymentFields, type DeploymentJson } from './backend';

export const DEPLOYMENT_HELP = `Usage: gatehouse deployment <command> [flags]

Commands:
  list [--json] [--config FILE]
  get NAME [--json] [--config FILE]
  apply NAME [--access private|protected|public] [--protocol http|grpc]
             [--upstream URL]... [--host HOST]... [--json] [--config FILE]
                       Creates the Deployment (--access and --upstream needed)
                       or changes only the fields given.
  delete NAME [--config FILE]

Deployments named in the config file are managed there and cannot be
changed here. With --config FILE the command acts on that config's store
directly; without it, on the admin API of the current context.
`;

export async function deploymentCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'list': return list(rest);
    case 'get': return show(rest);
    case 'apply': return apply(rest);
    case 'delete': return remove(rest);
    case undefined: case '--help': case '-h': case 'help':
      (sub === undefined ? process.stderr : process.stdout).write(DEPLOYMENT_HELP);
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown deployment command "${sub}" (expected list, get, apply or delete)`);
  }
}

async function withBackend(configFile: string | undefined, work: (backend: Backend) => Promise<number>): Promise<number> {
  const backend = await backendFor(configFile);
  try {
    return await work(backend);
  } finally {
    await backend.close();
  }
}

function help(): number {
  process.stdout.write(DEPLOYMENT_HELP);
  return 0;
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
    `Timeouts:      ${timeouts || 'defaults'}`,
    `Managed by:    ${d.config_managed ? 'config file' : 'store (API)'}`,
  ].join('\n') + '\n';
}

async function list(argv: string[]): Promise<number> {
  const { values } = parse(argv, { config: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) return help();
  return withBackend(values.config, async (backend) => {
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
  const { values, positionals } = parse(argv, { config: { type: 'string' }, json: { type: 'boolean' } }, 1);
  if (values.help) return help();
  const name = nameFrom(positionals, 'get');
  return withBackend(values.config, async (backend) => {
    const deployment = await backend.getDeployment(name);
    if (deployment === null) throw new CommandError(`no Deployment named "${name}"`);
    process.stdout.write(values.json ? JSON.stringify({ deployment }, null, 2) + '\n' : describe(deployment));
    return 0;
  });
}

async function apply(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    access: { type: 'string' },
    protocol: { type: 'string' },
    upstream: { type: 'string', multiple: true },
    host: { type: 'string', multiple: true },
    config: { type: 'string' },
    json: { type: 'boolean' },
  }, 1);
  if (values.help) return help();
  const name = nameFrom(positionals, 'apply');
  const fields: DeploymentFields = {};
  if (values.access !== undefined) fields.access = values.access;
  if (values.protocol !== undefined) fields.protocol = values.protocol;
  if (values.upstream !== undefined) fields.upstreams = values.upstream;
  if (values.host !== undefined) fields.hosts = values.host;
  if (Object.keys(fields).length === 0) throw new UsageError('nothing to apply: give --access, --protocol, --upstream or --host');
  return withBackend(values.config, async (backend) => {
    const { deployment, created } = await backend.applyDeployment(name, fields);
    if (values.json) process.stdout.write(JSON.stringify({ deployment, created }, null, 2) + '\n');
    else process.stdout.write(`${created ? 'Created' : 'Updated'} Deployment "${deployment.name}" (${deployment.access}, ${deployment.protocol}).\n`);
    return 0;
  });
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { config: { type: 'string' } }, 1);
  if (values.help) return help();
  const name = nameFrom(positionals, 'delete');
  return withBackend(values.config, async (backend) => {
    if (!(await backend.deleteDeployment(name))) throw new CommandError(`no Deployment named "${name}"`);
    process.stdout.write(`Deleted Deployment ${name}.\n`);
    return 0;
  });
}
