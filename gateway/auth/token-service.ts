import { GatehouseError } from '../errors';
import { limitsView, validateTokenLimits } from '../limits/limits';
import type { Store, TokenRecord } from '../store/types';
import { generateSecret, randomId } from './token-format';
import type { TokenHasher } from './token-hash';

/** What a caller (the admin API, the CLI) asks for when creating a token. */
export interface TokenRequest {
  readonly name: unknown;
  readonly description?: unknown;
  readonly user?: unknown;
  readonly developer?: unknown;
  readonly expires_at?: unknown;
  readonly limits?: unknown;
  readonly owner: string;
}

const NAME = /^[^\x00-\x1f\x7f]{1,128}$/;

function invalid(field: string, problem: string): GatehouseError {
  return new GatehouseError('invalid_field', { message: `${field}: ${problem}`, field });
}

/** Validates a requested user scope against the Deployments that exist. */
export function validateUserScope(value: unknown, knownDeployments: ReadonlySet<string>): { deployments: string[] } | null {
  if (value === undefined || value === null) return null;
  const deployments = (value as { deployments?: unknown }).deployments;
  if (typeof value !== 'object' || !Array.isArray(deployments)) throw invalid('user.deployments', 'must be a list of Deployment names');
  if (deployments.length === 0) throw invalid('user.deployments', 'a user token must name at least one Deployment (or "*")');
  const names: string[] = [];
  for (const [i, name] of deployments.entries()) {
    if (typeof name !== 'string') throw invalid(`user.deployments[${i}]`, 'must be a string');
    if (name !== '*' && !knownDeployments.has(name)) throw invalid(`user.deployments[${i}]`, `unknown Deployment "${name}"`);
    if (!names.includes(name)) names.push(name);
  }
  return { deployments: names };
}

export function validateName(value: unknown, field = 'name'): string {
  if (typeof value !== 'string' || !NAME.test(value.trim())) throw invalid(field, 'must be 1 to 128 printable characters');
  return value.trim();
}

export function validateDescription(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string' || value.length > 1024) throw invalid('description', 'must be a string of at most 1024 characters');
  return value;
}

/** RFC 3339 date-time: the offset is required (without one, Date.parse would read the server's local time). */
export const RFC3339 = /^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/;

export function validateExpiresAt(value: unknown, now = Date.now()): string | null {
  if (value === undefined || value === null) return null;
  const ms = typeof value === 'string' && RFC3339.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw invalid('expires_at', 'must be an RFC 3339 time, e.g. 2030-01-01T00:00:00Z');
  if (ms <= now) throw invalid('expires_at', 'must be in the future');
  return new Date(ms).toISOString();
}

/**
 * Creates a token: validates the request, makes the secret, stores only its
 * keyed hash, and returns the secret this one time.
 */
export async function createToken(
  store: Store,
  hash: TokenHasher,
  request: TokenRequest,
  knownDeployments: ReadonlySet<string>,
): Promise<{ token: TokenRecord; secret: string }> {
  const name = validateName(request.name);
  const description = validateDescription(request.description);
  const user = validateUserScope(request.user, knownDeployments);
  if (request.developer !== undefined && typeof request.developer !== 'boolean') throw invalid('developer', 'must be true or false');
  const developer = request.developer === true;
  if (user === null && !developer) throw invalid('type', 'a token needs at least one type: user (with Deployments) or developer');
  const expiresAt = validateExpiresAt(request.expires_at);
  const limits = validateTokenLimits(request.limits);
  const secret = generateSecret();
  const token: TokenRecord = {
    id: randomId('tok_'),
    hash: hash(secret),
    name,
    description,
    owner: request.owner,
    createdAt: new Date().toISOString(),
    expiresAt,
    lastUsedAt: null,
    disabled: false,
    user,
    developer,
    ...(limits === null ? {} : { limits }),
  };
  await store.createToken(token);
  return { token, secret };
}

/** The public view of a token: snake_case, never the hash. */
export function tokenView(token: TokenRecord): Record<string, unknown> {
  return {
    id: token.id,
    name: token.name,
    description: token.description,
    owner: token.owner,
    created_at: token.createdAt,
    expires_at: token.expiresAt,
    last_used_at: token.lastUsedAt,
    disabled: token.disabled,
    user: token.user ? { deployments: [...token.user.deployments] } : null,
    developer: token.developer,
    limits: limitsView(token.limits),
  };
}
