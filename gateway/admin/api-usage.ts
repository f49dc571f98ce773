import { RFC3339 } from '../auth/token-service';
import { parseDuration } from '../config/duration';
import { GatehouseError } from '../errors';
import { USAGE_RETENTION_MS, type UsageCount } from '../store/types';
import type { ApiReply, ApiRequest, ApiRoutes } from './api-types';

const DEFAULT_SINCE_MS = 86_400_000;

interface Totals { requests: number; bytes_in: number; bytes_out: number }

/**
 * The start of the window in ms: `since` is an RFC 3339 time or a duration
 * back from now (`24h`, the default). Counts are kept per minute, so it is
 * rounded down to one; older than the retention, it starts at the retention.
 */
export function parseSince(value: string | null, now = Date.now()): number {
  let ms: number;
  if (value === null) ms = now - DEFAULT_SINCE_MS;
  else if (RFC3339.test(value)) ms = Date.parse(value);
  else ms = now - (parseDuration(value) ?? NaN);
  if (Number.isNaN(ms)) throw new GatehouseError('invalid_field', { message: 'since: must be an RFC 3339 time or a duration like 24h', field: 'since' });
  if (ms > now) throw new GatehouseError('invalid_field', { message: 'since: must not be in the future', field: 'since' });
  return Math.floor(Math.max(ms, now - USAGE_RETENTION_MS) / 60_000) * 60_000;
}

function add(to: Totals, c: UsageCount): void {
  to.requests += c.requests;
  to.bytes_in += c.bytesIn;
  to.bytes_out += c.bytesOut;
}

/** `GET /v1/tokens/{id}/usage?since=T`: what the token used, summed over every replica. */
async function usage(req: ApiRequest): Promise<ApiReply> {
  const since = parseSince(req.query.get('since'));
  const token = await req.runtime.store.getToken(req.params.id);
  if (token === null) throw new GatehouseError('not_found', { message: `no token with id "${req.params.id}"` });
  const counts = await req.runtime.store.readUsage(token.id, since / 60_000);
  const total: Totals = { requests: 0, bytes_in: 0, bytes_out: 0 };
  const byStatus: Record<string, Totals> = {};
  const byListener: Record<string, Totals> = {};
  for (const c of counts) {
    add(total, c);
    add((byStatus[c.statusClass] ??= { requests: 0, bytes_in: 0, bytes_out: 0 }), c);
    add((byListener[c.listener] ??= { requests: 0, bytes_in: 0, bytes_out: 0 }), c);
  }
  return {
    status: 200,
    body: { usage: { token_id: token.id, since: new Date(since).toISOString(), ...total, by_status: byStatus, by_listener: byListener } },
  };
}

export const usageRoutes: ApiRoutes = {
  '/v1/tokens/{id}/usage': { GET: usage },
};
