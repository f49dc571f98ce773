import { timingSafeEqual } from 'node:crypto';
import type { Protocol } from '../config/schema';
import { GatehouseError, REFUSALS, isGatehouseError } from '../errors';
import type { LimitGrant, Limiter } from '../limits/limiter';
import type { Route } from '../routing/route-table';
import type { TokenRecord } from '../store/types';
import { parseBearer } from './bearer';
import type { FailedAuthLimiter } from './failed-auth-limiter';
import type { LastUsedRecorder } from './last-used';
import { usableToken, type CacheEntry, type TokenCache } from './token-cache';
import { isWellFormed } from './token-format';
import type { TokenHasher } from './token-hash';

/** What every transport reduces a request to before deciding. Nothing else may sway the decision. */
export interface AuthRequest {
  readonly listener: 'external' | 'internal';
  readonly route: Route | undefined;
  readonly protocol: Protocol;
  /** The raw `Authorization` header / `authorization` metadata, if any. */
  readonly authorization: string | undefined;
  readonly clientAddress: string;
  /** The connection the request came on (a socket, an HTTP/2 session), if it may carry more requests. */
  readonly connection?: object;
}

/** The last well-formed credential a connection presented, and its keyed hash. */
interface LastCredential {
  /** Its bytes, in a buffer of their own (not a slice of Node's shared pool, which an idle connection would keep alive). */
  readonly bytes: Buffer;
  /** As long as `bytes`: a header of that length is copied here to be compared, so a request allocates nothing. */
  readonly probe: Buffer;
  readonly hash: string;
}

export type AllowReason = 'public' | 'internal' | 'token';

export class Allowed {
  constructor(
    readonly reason: AllowReason,
    readonly token: TokenRecord | null,
    /** Set when a limit applies: its answer fields, and the slot to release when the request ends. */
    readonly limit: LimitGrant | null = null,
  ) {}
}

const ALLOW_PUBLIC = new Allowed('public', null);
const ALLOW_INTERNAL = new Allowed('internal', null);

export type Decision = Allowed | GatehouseError;

/**
 * The one access decision, shared by HTTP, WebSocket and gRPC. It answers
 * synchronously unless a token has to be read from the store.
 */
export class Decider {
  constructor(
    private readonly cache: TokenCache,
    /** The keyed hash for the pepper the process started with (the admin API checks tokens with it too). */
    readonly hash: TokenHasher,
    private readonly limiter: FailedAuthLimiter,
    private readonly lastUsed: LastUsedRecorder,
    private readonly limits: Limiter,
  ) {}

  /**
   * A client on a kept-alive connection (an SDK, an HTTP/2 or gRPC channel) sends the same
   * Authorization with every request: comparing it with the last one spares the request its
   * checksum and hash, about 3 % of a protected request's CPU. A connection holds only its own
   * last credential, and only while it is open, as HTTP/2's header table already does.
   */
  private readonly lastCredential = new WeakMap<object, LastCredential>();

  decide(req: AuthRequest): Decision | Promise<Decision> {
    const route = req.route;
    if (route === undefined) return REFUSALS.notFound;
    if (req.listener === 'internal') return route.spec.protocol === req.protocol ? ALLOW_INTERNAL : REFUSALS.wrongProtocol;
    const access = route.spec.access;
    if (access === 'private') return REFUSALS.notFound;
    if (route.spec.protocol !== req.protocol) return REFUSALS.wrongProtocol;
    if (access === 'public') return ALLOW_PUBLIC;

    const retryAfter = this.limiter.retryAfter(req.clientAddress);
    if (retryAfter > 0) return new GatehouseError('too_many_failed_attempts', { retryAfter });
    if (req.authorization === undefined) return REFUSALS.missingToken;
    const hash = this.hashOf(req.authorization, req.connection);
    if (hash === null) return this.fail(req.clientAddress);

    let lookup;
    try {
      lookup = this.cache.lookup(hash);
    } catch (err) {
      return err as GatehouseError;
    }
    if (lookup instanceof Promise) {
      return lookup.then((entry) => this.judge(entry, route, req.clientAddress), (err: GatehouseError) => err);
    }
    return this.judge(lookup, route, req.clientAddress);
  }

  /** The keyed hash of a well-formed Bearer credential; null for any other. */
  private hashOf(header: string, connection: object | undefined): string | null {
    const last = connection === undefined ? undefined : this.lastCredential.get(connection);
    if (last !== undefined && sameCredential(last, header)) return last.hash;
    const secret = parseBearer(header);
    if (!secret || !isWellFormed(secret)) return null;
    const hash = this.hash(secret);
    if (connection !== undefined) this.lastCredential.set(connection, remembered(header, hash));
    return hash;
  }

  private judge(entry: CacheEntry, route: Route, clientAddress: string): Decision | Promise<Decision> {
    const deployment = route.name;
    const now = Date.now();
    const token = usableToken(entry, now);
    if (token === null) return this.fail(clientAddress, entry.record?.id);
    const scope = token.user?.deployments;
    if (scope === undefined || !(scope.includes(deployment) || scope.includes('*'))) {
      return new GatehouseError('insufficient_scope', { tokenId: token.id });
    }
    this.lastUsed.mark(token.id, now);
    // Limits come last: a request refused for any other reason takes no share of them.
    const limited = this.limits.check(token, route);
    if (limited === null) return new Allowed('token', token);
    if (limited instanceof Promise) return limited.then((verdict) => limitDecision(token, verdict));
    return limitDecision(token, limited);
  }

  /** `tokenId`: a known token that is disabled or expired, named in the log line; unknown and malformed ones have none. */
  private fail(clientAddress: string, tokenId?: string): GatehouseError {
    this.limiter.recordFailure(clientAddress);
    return tokenId === undefined ? REFUSALS.invalidToken : new GatehouseError('invalid_token', { tokenId });
  }
}

/**
 * A connection's record of its credential. Node's HTTP/1 and HTTP/2 parsers
 * give a header value one character per byte received, so latin1 gives back
 * exactly those bytes.
 */
function remembered(header: string, hash: string): LastCredential {
  const bytes = Buffer.allocUnsafeSlow(header.length);
  bytes.write(header, 'latin1');
  return { bytes, probe: Buffer.allocUnsafeSlow(header.length), hash };
}

/**
 * Equality in a time that depends only on the length. Behind a proxy, one
 * connection carries many clients' requests, and an early exit would time how much
 * of another client's credential a guess got right. Compared as bytes, not
 * with charCodeAt: nghttp2 hands header values over as external strings, whose
 * characters optimized code reads through a runtime call each (valgrind: about
 * 11,000 instructions per gRPC call, 2.6 % of the call).
 */
function sameCredential(last: LastCredential, header: string): boolean {
  if (last.bytes.length !== header.length) return false;
  last.probe.write(header, 'latin1');
  return timingSafeEqual(last.bytes, last.probe);
}

function limitDecision(token: TokenRecord, verdict: LimitGrant | GatehouseError): Decision {
  return verdict instanceof GatehouseError ? verdict : new Allowed('token', token, verdict);
}

/**
 * Calls `then` with the decision: at once when it is known, else when the
 * store answers. An unexpected failure becomes an internal error, never a
 * dropped request.
 */
export function whenDecided(decision: Decision | Promise<Decision>, then: (decision: Decision) => void): void {
  if (!(decision instanceof Promise)) return then(decision);
  decision.then(then, (err: unknown) => then(isGatehouseError(err) ? err : new GatehouseError('internal', { cause: err })));
}
