import type { DeploymentJson } from '../admin/deployment-service';
import type { AuditEvent } from '../store/types';
import { CommandError, UsageError } from './args';
import { contextNamed } from './contexts';
import type { LimitsJson } from './limit-flags';

export type TokenJson = Record<string, unknown>;
export type { DeploymentJson };

export interface NewToken {
  name: string;
  description?: string;
  user?: { deployments: string[] };
  developer: boolean;
  expires_at?: string;
  limits?: LimitsJson;
  /** Only with --config: API-made tokens belong to the caller. */
  owner?: string;
}

/** What `deployment apply` sets; fields left out keep their value (or their default on creation). */
export interface DeploymentFields {
  access?: string;
  protocol?: string;
  upstreams?: string[];
  hosts?: string[];
  forward_authorization?: boolean;
  timeouts?: Record<string, string>;
}

/** `token rotate`'s answer: the API's. */
export interface Rotated {
  token: TokenJson;
  secret: string;
  /** When the old secret stops working; null: at once. */
  previous_secret_valid_until: string | null;
}

/** A page of `audit list`: the API's answer. */
export interface AuditPage {
  events: AuditEvent[];
  next: string | null;
}

/** Where token and Deployment commands act: a store directly (--config) or the admin API. */
export interface Backend {
  createToken(request: NewToken): Promise<{ token: TokenJson; secret: string }>;
  listTokens(): Promise<TokenJson[]>;
  deleteToken(id: string): Promise<boolean>;
  /** Returns the updated token, or null when there is no such token. */
  setTokenDisabled(id: string, disabled: boolean): Promise<TokenJson | null>;
  /** Replaces a token's limits (null: none); null when there is no such token. */
  setTokenLimits(id: string, limits: LimitsJson | null): Promise<TokenJson | null>;
  /** Null when there is no such token. `overlap`: a duration string (default 0s). */
  rotateToken(id: string, overlap: string | undefined): Promise<Rotated | null>;
  listAudit(limit: number, before: string | undefined): Promise<AuditPage>;
  listDeployments(): Promise<DeploymentJson[]>;
  getDeployment(name: string): Promise<DeploymentJson | null>;
  /** Creates the Deployment, or changes the given fields of an existing one. */
  applyDeployment(name: string, fields: DeploymentFields): Promise<{ deployment: DeploymentJson; created: boolean }>;
  deleteDeployment(name: string): Promise<boolean>;
  close(): Promise<void>;
}

/** The flags every token and Deployment command takes to choose where it acts. */
export const TARGET_FLAGS = { config: { type: 'string' }, context: { type: 'string' } } as const;
export const TARGET_HELP = `With --config FILE the command acts on that config's store directly (how the
first developer token is made); without it, on the admin API of the current
context (see 'gatehouse login'), or of the saved context --context NAME.`;

/** The config's store with --config FILE; else the admin API of --context NAME, or of the current context. */
export async function backendFor(target: { config?: string; context?: string }): Promise<Backend> {
  if (target.config !== undefined && target.context !== undefined) throw new UsageError('--config and --context exclude each other: act on a store, or through an admin API');
  // The stores' drivers, and the HTTP client, load only when asked for: help and usage errors start faster.
  if (target.config !== undefined) return (await import('./store-backend')).storeBackend(target.config);
  const context = contextNamed(target.context);
  if (context === null) throw new CommandError('not logged in: run "gatehouse login --api-token TOKEN --endpoint URL" or pass --config FILE');
  return new (await import('./api-backend')).ApiBackend(context);
}

/** Runs one command's work on the backend {@link backendFor} picks, and closes it however the work ends. */
export async function withBackend(target: { config?: string; context?: string }, work: (backend: Backend) => Promise<number>): Promise<number> {
  const backend = await backendFor(target);
  try {
    return await work(backend);
  } finally {
    await backend.close();
  }
}
