import type { DeploymentJson } from '../admin/deployment-service';
import { ApiClient } from './api-client';
import type { AuditPage, Backend, DeploymentFields, NewToken, Rotated, TokenJson } from './backend';
import type { Context } from './contexts';
import type { LimitsJson } from './limit-flags';

const segment = encodeURIComponent;

/** Acts through the admin API of a logged-in context, as its developer token. */
export class ApiBackend implements Backend {
  private readonly client: ApiClient;

  constructor(context: Context) {
    this.client = new ApiClient(context.endpoint, context.api_token,
      `the token of context "${context.name}" was refused; "gatehouse login --api-token TOKEN --endpoint ${context.endpoint}" makes a new context`);
  }

  createToken(request: NewToken): Promise<{ token: TokenJson; secret: string }> {
    const { name, description, user, developer, expires_at, limits } = request;
    return this.client.call('POST', '/v1/tokens', { name, description, user, developer, expires_at, limits });
  }

  async listTokens(): Promise<TokenJson[]> {
    return (await this.client.call<{ tokens: TokenJson[] }>('GET', '/v1/tokens')).tokens;
  }

  async deleteToken(id: string): Promise<boolean> {
    return (await this.client.maybe('DELETE', `/v1/tokens/${segment(id)}`)) !== null;
  }

  async setTokenDisabled(id: string, disabled: boolean): Promise<TokenJson | null> {
    const path = `/v1/tokens/${segment(id)}`;
    // PATCH has no "404 as null" form: look first, so a missing id reads as such rather than as an API failure.
    if ((await this.client.maybe('GET', path)) === null) return null;
    return (await this.client.call<{ token: TokenJson }>('PATCH', path, { disabled })).token;
  }

  async setTokenLimits(id: string, limits: LimitsJson | null): Promise<TokenJson | null> {
    return (await this.client.maybe<{ token: TokenJson }>('PATCH', `/v1/tokens/${segment(id)}`, { limits }))?.token ?? null;
  }

  /** An unknown token is the API's 404, whose message names it. */
  rotateToken(id: string, overlap: string | undefined): Promise<Rotated | null> {
    return this.client.call('POST', `/v1/tokens/${segment(id)}/rotate`, overlap === undefined ? {} : { overlap });
  }

  listAudit(limit: number, before: string | undefined): Promise<AuditPage> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (before !== undefined) query.set('before', before);
    return this.client.call('GET', `/v1/audit?${query.toString()}`);
  }

  async listDeployments(): Promise<DeploymentJson[]> {
    return (await this.client.call<{ deployments: DeploymentJson[] }>('GET', '/v1/deployments')).deployments;
  }

  async getDeployment(name: string): Promise<DeploymentJson | null> {
    return (await this.client.maybe<{ deployment: DeploymentJson }>('GET', `/v1/deployments/${segment(name)}`))?.deployment ?? null;
  }

  async applyDeployment(name: string, fields: DeploymentFields): Promise<{ deployment: DeploymentJson; created: boolean }> {
    const path = `/v1/deployments/${segment(name)}`;
    const created = (await this.client.maybe('GET', path)) === null;
    const answer = await this.client.call<{ deployment: DeploymentJson }>(created ? 'PUT' : 'PATCH', path, fields);
    return { deployment: answer.deployment, created };
  }

  async deleteDeployment(name: string): Promise<boolean> {
    return (await this.client.maybe('DELETE', `/v1/deployments/${segment(name)}`)) !== null;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
