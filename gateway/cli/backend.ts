import type { DeploymentJson } from '../admin/deployment-service';
import type { AuditEvent } from '../store/types';
import { ApiBackend } from './api-backend';
import { CommandError } from './args';
import { currentContext } from './contexts';
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

/** The config's store with --config FILE; else the admin API of the current context. */
export async function backendFor(configFile: string | undefined): Promise<Backend> {
  // The stores' drivers load only when asked for.
  if (configFile !== undefined) return (await import('./store-backend')).storeBackend(configFile);
  const context = currentContext();
  if (context === null) throw new CommandError('not logged in: run "gatehouse login --api-token TOKEN --endpoint URL" or pass --config FILE');
  return new ApiBackend(context.endpoint, context.api_token);
}
