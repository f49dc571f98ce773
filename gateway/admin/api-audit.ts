import { GatehouseError } from '../errors';
import { isAuditId } from '../store/audit-id';
import type { ApiReply, ApiRequest, ApiRoutes } from './api-types';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1_000;

function parseLimit(value: string | null): number {
  if (value === null) return DEFAULT_LIMIT;
  const n = /^\d{1,7}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) throw new GatehouseError('invalid_field', { message: `limit: must be an integer from 1 to ${MAX_LIMIT}`, field: 'limit' });
  return n;
}

/** `GET /v1/audit?limit=N&before=C`: newest first; `next` is the cursor of the following page, null on the last. */
async function list(req: ApiRequest): Promise<ApiReply> {
  const limit = parseLimit(req.query.get('limit'));
  const before = req.query.get('before');
  if (before !== null && !isAuditId(before)) {
    throw new GatehouseError('invalid_field', { message: 'before: must be a "next" cursor from a previous answer', field: 'before' });
  }
  // One more than asked for tells whether a next page exists.
  const events = await req.runtime.store.listAudit(limit + 1, before);
  const page = events.slice(0, limit);
  return { status: 200, body: { events: page, next: events.length > limit ? page[page.length - 1].id : null } };
}

export const auditRoutes: ApiRoutes = {
  '/v1/audit': { GET: list },
};
