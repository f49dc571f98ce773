import type { RateLimitFields } from './limits/ratelimit-fields';

/**
 * One table for every refusal and failure a client can see: the stable code,
 * the message, the HTTP status and the gRPC status. Transports branch on
 * `err.code` and never on message text.
 */

/** gRPC status codes used by the gateway (grpc/status.proto). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

interface ErrorSpec {
  readonly http: number;
  readonly grpc: number;
  readonly message: string;
}

export const ERRORS = {
  not_found: { http: 404, grpc: GrpcStatus.UNIMPLEMENTED, message: 'no such endpoint' },
  missing_token: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED, message: 'a Bearer token is required' },
  invalid_token: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED, message: 'the token is malformed, unknown, expired or revoked' },
  insufficient_scope: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED, message: 'the token does not grant access to this endpoint' },
  too_many_failed_attempts: { http: 429, grpc: GrpcStatus.RESOURCE_EXHAUSTED, message: 'too many failed authentication attempts; retry later' },
  rate_limited: { http: 429, grpc: GrpcStatus.RESOURCE_EXHAUSTED, message: 'the token is over its request rate limit; retry later' },
  concurrency_limited: { http: 429, grpc: GrpcStatus.RESOURCE_EXHAUSTED, message: 'the token has as many requests in progress as its limit allows; retry later' },
  store_unavailable: { http: 503, grpc: GrpcStatus.UNAVAILABLE, message: 'the token store is unreachable; retry later' },
  upstream_unavailable: { http: 502, grpc: GrpcStatus.UNAVAILABLE, message: 'the upstream refused, reset or could not be reached' },
  upstream_timeout: { http: 504, grpc: GrpcStatus.DEADLINE_EXCEEDED, message: 'the upstream did not answer in time' },
  wrong_protocol: { http: 404, grpc: GrpcStatus.UNIMPLEMENTED, message: 'this endpoint does not serve that protocol' },
  bad_request: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT, message: 'the request is malformed' },
  invalid_field: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT, message: 'a field is invalid' },
  forbidden: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED, message: 'a developer token is required' },
  conflict: { http: 409, grpc: GrpcStatus.FAILED_PRECONDITION, message: 'the resource is managed by the config file' },
  method_not_allowed: { http: 405, grpc: GrpcStatus.UNIMPLEMENTED, message: 'method not allowed' },
  payload_too_large: { http: 413, grpc: GrpcStatus.RESOURCE_EXHAUSTED, message: 'the request body is too large' },
  shutting_down: { http: 503, grpc: GrpcStatus.UNAVAILABLE, message: 'the gateway is shutting down' },
  internal: { http: 500, grpc: GrpcStatus.INTERNAL, message: 'internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * The one error type clients see. `retryAfter` (seconds) becomes a
 * `Retry-After` header on HTTP; `cause` holds a foreign error for the log and
 * is never shown to a client.
 */
export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly grpcStatus: number;
  readonly retryAfter: number | undefined;
  /** For `invalid_field`: the path of the field at fault (e.g. `user.deployments[0]`), so a form can show it in place. */
  readonly field: string | undefined;
  /** The token a refusal is about (known, but out of scope, disabled or expired): for the log line, never the client. */
  readonly tokenId: string | undefined;
  /** A limit refusal's `RateLimit-Policy` and `RateLimit` fields. */
  readonly rateLimit: RateLimitFields | undefined;

  constructor(code: ErrorCode, options: {
    message?: string; cause?: unknown; retryAfter?: number; field?: string; tokenId?: string; rateLimit?: RateLimitFields;
  } = {}) {
    const spec: ErrorSpec = ERRORS[code];
    super(options.message ?? spec.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatehouseError';
    this.code = code;
    this.httpStatus = spec.http;
    this.grpcStatus = spec.grpc;
    this.retryAfter = options.retryAfter;
    this.field = options.field;
    this.tokenId = options.tokenId;
    this.rateLimit = options.rateLimit;
  }
}

/**
 * Refusals that carry nothing request-specific are made once: refusing a
 * malformed token must not cost an allocation or a stack capture.
 */
export const REFUSALS = {
  notFound: new GatehouseError('not_found'),
  missingToken: new GatehouseError('missing_token'),
  invalidToken: new GatehouseError('invalid_token'),
  wrongProtocol: new GatehouseError('wrong_protocol'),
  /** Every request that arrives during a drain. */
  shuttingDown: new GatehouseError('shutting_down', { retryAfter: 1 }),
  /** `OPTIONS *` and other targets that are not a path: nothing an upstream could be sent. */
  notAPath: new GatehouseError('bad_request', { message: 'the request target must be a path' }),
} as const;

export function isGatehouseError(err: unknown): err is GatehouseError {
  return err instanceof GatehouseError;
}
