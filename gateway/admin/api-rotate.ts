import { parseOverlap, rotateToken } from '../auth/token-rotation';
import { tokenView } from '../auth/token-service';
import { GatehouseError } from '../errors';
import type { ApiReply, ApiRequest, ApiRoutes } from './api-types';
import { objectBody, onlyKeys } from './http-io';

/**
 * `POST /v1/tokens/{id}/rotate {"overlap"?: "10m"}`: a new secret for the same
 * token; the old one keeps working for the overlap. The secret is in this
 * answer and nowhere else.
 */
async function rotate(req: ApiRequest): Promise<ApiReply> {
  const raw = await req.body();
  const body = raw === undefined ? {} : objectBody(raw);
  onlyKeys(body, ['overlap']);
  const overlapMs = parseOverlap(body.overlap);
  const rotated = await rotateToken(req.runtime.store, req.hash, req.params.id, overlapMs);
  if (rotated === null) throw new GatehouseError('not_found', { message: `no token with id "${req.params.id}"` });
  // Other processes hear of it through the store; this one need not wait for its own event.
  req.runtime.cache.evict(rotated.previousHash);
  await req.audit('token.rotate', rotated.token.id);
  return { status: 200, body: { token: tokenView(rotated.token), secret: rotated.secret, previous_secret_valid_until: rotated.previousUntil } };
}

export const rotateRoutes: ApiRoutes = {
  '/v1/tokens/{id}/rotate': { POST: rotate },
};
