import { GatehouseError } from '../errors';

const TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
/** Failures where nothing reached the upstream: safe to try another one, and a reason to skip this one a while. */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isConnectFailure(err: unknown): boolean {
  const code = codeOf(err);
  return code !== undefined && CONNECT_FAILURES.has(code);
}

/** Maps an upstream failure to what the client sees: timeouts 504, everything else 502. Never 500. */
export function upstreamError(err: unknown): GatehouseError {
  const code = codeOf(err);
  return new GatehouseError(code !== undefined && TIMEOUTS.has(code) ? 'upstream_timeout' : 'upstream_unavailable', { cause: err });
}
