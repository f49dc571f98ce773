import type { TokenHasher } from '../auth/token-hash';
import type { Runtime } from '../runtime';
import type { AuditAction, TokenRecord } from '../store/types';

/** What the admin API needs from the gateway beyond the Runtime. */
export interface AdminHooks {
  /** Rebuilds this process's route table from the store now (other processes follow through store events). */
  refreshDeployments(): Promise<void>;
  /** Notes a token's use for the batched `last_used_at`. */
  markUsed(tokenId: string, now: number): void;
}

export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One authenticated admin API call, as a handler sees it. */
export interface ApiRequest {
  readonly runtime: Runtime;
  readonly hooks: AdminHooks;
  /** The developer token that made the call. */
  readonly caller: TokenRecord;
  /** The keyed hash of secrets (the decider's: the pepper the process started with). */
  readonly hash: TokenHasher;
  /** Path parameters, decoded: `{id}` in `/v1/tokens/{id}`. */
  readonly params: Readonly<Record<string, string>>;
  /** The query string's parameters. */
  readonly query: URLSearchParams;
  /** The JSON body (undefined when empty); 400/413 when it is not JSON or too large. */
  body(): Promise<unknown>;
  /** Records the change this call made as an audit event, with the caller, request id and client address. */
  audit(action: AuditAction, target: string): Promise<void>;
}

/** A JSON answer; status 204 has no body. */
export interface ApiReply {
  readonly status: number;
  readonly body?: unknown;
}

export type ApiHandler = (req: ApiRequest) => Promise<ApiReply>;

/** Path pattern (`/v1/tokens/{id}`) -> method -> handler. */
export type ApiRoutes = Readonly<Record<string, Partial<Record<ApiMethod, ApiHandler>>>>;
