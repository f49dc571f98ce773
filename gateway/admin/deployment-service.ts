import { ConfigError } from '../config/env';
import type { DeploymentSpec, Timeouts } from '../config/schema';
import { validateDeployment } from '../config/validate';
import { GatehouseError } from '../errors';
import { limitsView } from '../limits/limits';
import { objectBody, onlyKeys } from './http-io';

/**
 * Deployments as the admin API and the CLI read and write them: snake_case
 * JSON with the config entry's fields, durations as strings (`600s`), so
 * what `GET` answers can be sent back with `PUT` unchanged.
 */
export interface DeploymentJson {
  name: string;
  access: string;
  protocol: string;
  upstreams: string[];
  hosts: string[];
  forward_authorization: boolean;
  timeouts: Partial<Record<keyof Timeouts, string>>;
  /** Default limits for every token calling it (a token's own win); null when none. */
  limits: { requests_per_minute: number | null; concurrent: number | null } | null;
  /** Read-only: true when the config file manages it (the API refuses to change it). */
  config_managed: boolean;
  /** Read-only: `<name>.<organization>.<domain>`. */
  default_host: string;
}

const WRITABLE = ['name', 'access', 'protocol', 'upstreams', 'hosts', 'forward_authorization', 'timeouts', 'limits'] as const;
/** Fields of the view that a body may carry back (GET, edit, PUT) and that are ignored. */
const READ_ONLY = ['config_managed', 'default_host'] as const;
const UNITS: readonly [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];

/** Milliseconds as the largest whole unit: 600000 -> `10m`, 1500 -> `1500ms`. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of UNITS) if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

export function deploymentView(spec: DeploymentSpec, configManaged: boolean, hostSuffix: string): DeploymentJson {
  const timeouts: DeploymentJson['timeouts'] = {};
  for (const key of ['connect', 'response', 'idle'] as const) {
    const ms = spec.timeouts[key];
    if (ms !== undefined) timeouts[key] = formatDuration(ms);
  }
  return {
    name: spec.name,
    access: spec.access,
    protocol: spec.protocol,
    upstreams: [...spec.upstreams],
    hosts: [...spec.hosts],
    forward_authorization: spec.forwardAuthorization,
    timeouts,
    limits: limitsView(spec.limits),
    config_managed: configManaged,
    default_host: spec.name + hostSuffix,
  };
}

/** `forwardAuthorization` (the config file's spelling) is taken for `forward_authorization`. */
function snakeCase(body: Record<string, unknown>): Record<string, unknown> {
  const { forwardAuthorization, ...rest } = body;
  if (forwardAuthorization === undefined) return body;
  if (rest.forward_authorization !== undefined) {
    throw new GatehouseError('invalid_field', { message: 'forward_authorization: given twice (forwardAuthorization is the same field)', field: 'forward_authorization' });
  }
  return { ...rest, forward_authorization: forwardAuthorization };
}

/**
 * Validates a Deployment body for `name` (the name comes from the path; a
 * different one in the body is refused). Throws invalid_field naming the field.
 */
export function deploymentFromBody(name: string, value: unknown): DeploymentSpec {
  const body = snakeCase(objectBody(value));
  onlyKeys(body, [...WRITABLE, ...READ_ONLY]);
  if (body.name !== undefined && body.name !== name) {
    throw new GatehouseError('invalid_field', { message: `name: must match the name in the path ("${name}")`, field: 'name' });
  }
  const input: Record<string, unknown> = { name };
  for (const key of ['access', 'protocol', 'upstreams', 'hosts', 'timeouts'] as const) if (body[key] !== undefined) input[key] = body[key];
  if (body.forward_authorization !== undefined) input.forwardAuthorization = body.forward_authorization;
  if (body.limits !== undefined) input.limits = limitsInput(body.limits);
  try {
    return validateDeployment(input);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const field = err.path.replace(/^forwardAuthorization/, 'forward_authorization').replace(/^limits\.requestsPerMinute/, 'limits.requests_per_minute');
    throw new GatehouseError('invalid_field', { message: field + err.message.slice(err.path.length), field });
  }
}

/** The API's `limits` (snake_case; the config's `requestsPerMinute` is taken too) in the config's spelling. */
function limitsInput(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const { requests_per_minute, ...rest } = value as Record<string, unknown>;
  if (requests_per_minute === undefined) return value;
  if (rest.requestsPerMinute !== undefined) {
    throw new GatehouseError('invalid_field', { message: 'limits.requests_per_minute: given twice (requestsPerMinute is the same field)', field: 'limits.requests_per_minute' });
  }
  return { ...rest, requestsPerMinute: requests_per_minute };
}

/**
 * Refuses a Deployment whose hosts another one already answers for: the route
 * table gives a host to the Deployment that claims it first, so a second claim
 * would leave it silently unreachable there. `ownerOf` names the Deployment a
 * host routes to now.
 */
export function refuseHostClash(spec: DeploymentSpec, hostSuffix: string, ownerOf: (host: string) => string | undefined): void {
  const check = (host: string, field: string, what: string): void => {
    const owner = ownerOf(host);
    if (owner !== undefined && owner !== spec.name) {
      throw new GatehouseError('invalid_field', { message: `${field}: ${what} is already used by Deployment "${owner}"`, field });
    }
  };
  check(spec.name + hostSuffix, 'name', `its default host "${spec.name + hostSuffix}"`);
  spec.hosts.forEach((host, i) => check(host, `hosts[${i}]`, `host "${host}"`));
}

/** host -> the Deployment it routes to, claimed in order as the route table does. */
export function hostOwners(specs: readonly DeploymentSpec[], hostSuffix: string): Map<string, string> {
  const owners = new Map<string, string>();
  const named = new Set<string>();
  for (const spec of specs) {
    // A stored Deployment shadowed by a config-managed one of the same name is not routed at all.
    if (named.has(spec.name)) continue;
    named.add(spec.name);
    for (const host of [spec.name + hostSuffix, ...spec.hosts]) if (!owners.has(host)) owners.set(host, spec.name);
  }
  return owners;
}

/** A Deployment with the fields a PATCH body gives replaced, validated as a whole. */
export function patchDeployment(current: DeploymentSpec, value: unknown): DeploymentSpec {
  return deploymentFromBody(current.name, { ...bodyOf(current), ...snakeCase(objectBody(value)) });
}

/** The writable body form of a stored Deployment. */
function bodyOf(spec: DeploymentSpec): Record<string, unknown> {
  const { name, access, protocol, upstreams, hosts, forward_authorization, timeouts, limits } = deploymentView(spec, false, '');
  return { name, access, protocol, upstreams, hosts, forward_authorization, timeouts, limits };
}
