import { createToken, tokenView, validateDescription, validateExpiresAt, validateName } from '../auth/token-service';
import { GatehouseError } from '../errors';
import { validateTokenLimits } from '../limits/limits';
import type { TokenPatch } from '../store/types';
import type { ApiReply, ApiRequest, ApiRoutes } from './api-types';
import { objectBody, onlyKeys } from './http-io';

const CREATE_FIELDS = ['name', 'description', 'user', 'developer', 'expires_at', 'limits'] as const;
const PATCH_FIELDS = ['disabled', 'name', 'description', 'expires_at', 'limits'] as const;

function noSuchToken(id: string): GatehouseError {
  return new GatehouseError('not_found', { message: `no token with id "${id}"` });
}

/** `GET /v1/whoami`: the calling token and whom it belongs to. */
async function whoami(req: ApiRequest): Promise<ApiReply> {
  return { status: 200, body: { user: req.caller.owner, organization: req.runtime.config.organization, token: tokenView(req.caller) } };
}

async function list(req: ApiRequest): Promise<ApiReply> {
  const tokens = await req.runtime.store.listTokens();
  return { status: 200, body: { tokens: tokens.map(tokenView) } };
}

/** The secret is in this answer and nowhere else: it is neither stored nor logged. */
async function create(req: ApiRequest): Promise<ApiReply> {
  const body = objectBody(await req.body());
  onlyKeys(body, CREATE_FIELDS);
  const known = new Set<string>();
  for (const route of req.runtime.routes.routes()) known.add(route.name);
  const { name, description, user, developer, expires_at, limits } = body;
  const { token, secret } = await createToken(req.runtime.store, req.hash, { name, description, user, developer, expires_at, limits, owner: req.caller.owner }, known);
  await req.audit('token.create', token.id);
  return { status: 201, body: { token: tokenView(token), secret } };
}

async function get(req: ApiRequest): Promise<ApiReply> {
  const token = await req.runtime.store.getToken(req.params.id);
  if (token === null) throw noSuchToken(req.params.id);
  return { status: 200, body: { token: tokenView(token) } };
}

/** Disables, enables, renames, re-describes, changes the expiry or the limits; the secret stays the same. */
async function patch(req: ApiRequest): Promise<ApiReply> {
  const body = objectBody(await req.body());
  onlyKeys(body, PATCH_FIELDS);
  const change: { -readonly [K in keyof TokenPatch]: TokenPatch[K] } = {};
  if (body.disabled !== undefined) {
    if (typeof body.disabled !== 'boolean') throw new GatehouseError('invalid_field', { message: 'disabled: must be true or false', field: 'disabled' });
    change.disabled = body.disabled;
  }
  if (body.name !== undefined) change.name = validateName(body.name);
  if ('description' in body) change.description = validateDescription(body.description);
  if ('expires_at' in body) change.expiresAt = validateExpiresAt(body.expires_at);
  if ('limits' in body) change.limits = validateTokenLimits(body.limits);
  const updated = await req.runtime.store.updateToken(req.params.id, change);
  if (updated === null) throw noSuchToken(req.params.id);
  // Other processes hear of it through the store; this one need not wait for its own event.
  req.runtime.cache.evict(updated.hash);
  await req.audit('token.update', updated.id);
  return { status: 200, body: { token: tokenView(updated) } };
}

async function remove(req: ApiRequest): Promise<ApiReply> {
  const token = await req.runtime.store.getToken(req.params.id);
  if (token === null || !(await req.runtime.store.deleteToken(token.id))) throw noSuchToken(req.params.id);
  req.runtime.cache.evict(token.hash);
  await req.audit('token.delete', token.id);
  return { status: 204 };
}

export const tokenRoutes: ApiRoutes = {
  '/v1/whoami': { GET: whoami },
  '/v1/tokens': { GET: list, POST: create },
  '/v1/tokens/{id}': { GET: get, PATCH: patch, DELETE: remove },
};
