import type { DeploymentSpec } from '../config/schema';
import { GatehouseError } from '../errors';
import type { Runtime } from '../runtime';
import type { ApiReply, ApiRequest, ApiRoutes } from './api-types';
import { deploymentFromBody, deploymentView, patchDeployment, refuseHostClash } from './deployment-service';

function noSuchDeployment(name: string): GatehouseError {
  return new GatehouseError('not_found', { message: `no Deployment named "${name}"` });
}

/** Config-managed Deployments change only through the config file (and SIGHUP). */
function refuseConfigManaged(runtime: Runtime, name: string): void {
  if (runtime.config.deployments.some((d) => d.name === name)) {
    throw new GatehouseError('conflict', { message: `Deployment "${name}" is managed by the config file; change it there and reload` });
  }
}

function hostSuffix(runtime: Runtime): string {
  return `.${runtime.config.organization}.${runtime.config.domain}`;
}

function view(runtime: Runtime, spec: DeploymentSpec, configManaged: boolean) {
  return deploymentView(spec, configManaged, hostSuffix(runtime));
}

function refuseTakenHosts(runtime: Runtime, spec: DeploymentSpec): void {
  refuseHostClash(spec, hostSuffix(runtime), (host) => runtime.routes.lookup(host)?.name);
}

async function storedDeployment(runtime: Runtime, name: string): Promise<DeploymentSpec | undefined> {
  return (await runtime.store.listDeployments()).find((d) => d.name === name);
}

async function list(req: ApiRequest): Promise<ApiReply> {
  const routes = [...req.runtime.routes.routes()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { status: 200, body: { deployments: routes.map((r) => view(req.runtime, r.spec, r.configManaged)) } };
}

async function get(req: ApiRequest): Promise<ApiReply> {
  const route = req.runtime.routes.get(req.params.name);
  if (route === undefined) throw noSuchDeployment(req.params.name);
  return { status: 200, body: { deployment: view(req.runtime, route.spec, route.configManaged) } };
}

/** Creates (201) or replaces (200) a store-managed Deployment; the route table follows at once. */
async function put(req: ApiRequest): Promise<ApiReply> {
  const { runtime, params } = req;
  refuseConfigManaged(runtime, params.name);
  const spec = deploymentFromBody(params.name, await req.body());
  refuseTakenHosts(runtime, spec);
  const outcome = await runtime.store.putDeployment(spec);
  await req.hooks.refreshDeployments();
  await req.audit('deployment.put', spec.name);
  return { status: outcome === 'created' ? 201 : 200, body: { deployment: view(runtime, spec, false) } };
}

async function patch(req: ApiRequest): Promise<ApiReply> {
  const { runtime, params } = req;
  refuseConfigManaged(runtime, params.name);
  const body = await req.body();
  const current = await storedDeployment(runtime, params.name);
  if (current === undefined) throw noSuchDeployment(params.name);
  const spec = patchDeployment(current, body);
  refuseTakenHosts(runtime, spec);
  await runtime.store.putDeployment(spec);
  await req.hooks.refreshDeployments();
  await req.audit('deployment.patch', spec.name);
  return { status: 200, body: { deployment: view(runtime, spec, false) } };
}

async function remove(req: ApiRequest): Promise<ApiReply> {
  const { runtime, params } = req;
  refuseConfigManaged(runtime, params.name);
  if (!(await runtime.store.deleteDeployment(params.name))) throw noSuchDeployment(params.name);
  await req.hooks.refreshDeployments();
  await req.audit('deployment.delete', params.name);
  return { status: 204 };
}

export const deploymentRoutes: ApiRoutes = {
  '/v1/deployments': { GET: list },
  '/v1/deployments/{name}': { GET: get, PUT: put, PATCH: patch, DELETE: remove },
};
