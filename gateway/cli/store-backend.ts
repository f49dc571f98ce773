import { userInfo } from 'node:os';
import { deploymentFromBody, deploymentView, hostOwners, patchDeployment, refuseHostClash, type DeploymentJson } from '../admin/deployment-service';
import { checkPepper } from '../auth/pepper-fingerprint';
import { recordAudit } from '../admin/audit-trail';
import { parseOverlap, rotateToken } from '../auth/token-rotation';
import { createToken, tokenView } from '../auth/token-service';
import { tokenHasher } from '../auth/token-hash';
import { ConfigError } from '../config/env';
import { loadConfig } from '../config/load';
import type { DeploymentSpec, GatehouseConfig } from '../config/schema';
import { isGatehouseError } from '../errors';
import { openStore } from '../store/open-store';
import { isAuditId } from '../store/audit-id';
import type { AuditAction, Store } from '../store/types';
import { CommandError } from './args';
import type { AuditPage, Backend, DeploymentFields, NewToken, Rotated, TokenJson } from './backend';
import type { LimitsJson } from './limit-flags';
import { validateTokenLimits } from '../limits/limits';

/** A `--config` command's audit events: no token, no request, no client address (SPEC: actor `local`). */
const LOCAL = { tokenId: null, user: 'local', requestId: null, clientAddress: null } as const;

/** Validation errors become CommandErrors (exit 1) with the message naming the field. */
async function refusing<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isGatehouseError(err)) throw new CommandError(err.message);
    throw err;
  }
}

/**
 * Acts on a config's store directly: how an operator mints the first
 * developer token. Safe while gateways run on the same store; they hear of
 * every change through the store's events.
 */
class StoreBackend implements Backend {
  private readonly hostSuffix: string;

  constructor(private readonly store: Store, private readonly config: GatehouseConfig) {
    this.hostSuffix = `.${config.organization}.${config.domain}`;
  }

  async createToken(request: NewToken): Promise<{ token: TokenJson; secret: string }> {
    const known = new Set(this.config.deployments.map((d) => d.name));
    for (const d of await this.store.listDeployments()) known.add(d.name);
    return refusing(async () => {
      const { token, secret } = await createToken(this.store, tokenHasher(this.config.tokens.pepper), {
        ...request,
        owner: request.owner ?? process.env.USER ?? userInfo().username,
      }, known);
      await this.audit('token.create', token.id);
      return { token: tokenView(token), secret };
    });
  }

  async listTokens(): Promise<TokenJson[]> {
    return (await this.store.listTokens()).map(tokenView);
  }

  async deleteToken(id: string): Promise<boolean> {
    if (!(await this.store.deleteToken(id))) return false;
    await this.audit('token.delete', id);
    return true;
  }

  async rotateToken(id: string, overlap: string | undefined): Promise<Rotated | null> {
    return refusing(async () => {
      const rotated = await rotateToken(this.store, tokenHasher(this.config.tokens.pepper), id, parseOverlap(overlap));
      if (rotated === null) return null;
      await this.audit('token.rotate', id);
      return { token: tokenView(rotated.token), secret: rotated.secret, previous_secret_valid_until: rotated.previousUntil };
    });
  }

  async listAudit(limit: number, before: string | undefined): Promise<AuditPage> {
    if (before !== undefined && !isAuditId(before)) throw new CommandError(`--before: not a cursor from a previous listing (got "${before}")`);
    const events = await this.store.listAudit(limit + 1, before ?? null);
    const page = events.slice(0, limit);
    return { events: page, next: events.length > limit ? page[page.length - 1].id : null };
  }

  async setTokenDisabled(id: string, disabled: boolean): Promise<TokenJson | null> {
    const updated = await this.store.updateToken(id, { disabled });
    if (updated === null) return null;
    await this.audit('token.update', id);
    return tokenView(updated);
  }

  async setTokenLimits(id: string, limits: LimitsJson | null): Promise<TokenJson | null> {
    const token = await refusing(async () => this.store.updateToken(id, { limits: validateTokenLimits(limits) }));
    if (token === null) return null;
    await this.audit('token.update', id);
    return tokenView(token);
  }

  /** Config-managed ones first win a name clash, as in the gateway's route table. */
  async listDeployments(): Promise<DeploymentJson[]> {
    const configured = new Set(this.config.deployments.map((d) => d.name));
    const views = this.config.deployments.map((d) => deploymentView(d, true, this.hostSuffix));
    for (const d of await this.store.listDeployments()) if (!configured.has(d.name)) views.push(deploymentView(d, false, this.hostSuffix));
    return views.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async getDeployment(name: string): Promise<DeploymentJson | null> {
    return (await this.listDeployments()).find((d) => d.name === name) ?? null;
  }

  async applyDeployment(name: string, fields: DeploymentFields): Promise<{ deployment: DeploymentJson; created: boolean }> {
    this.refuseConfigManaged(name);
    const stored = await this.store.listDeployments();
    const current = stored.find((d) => d.name === name);
    const owners = hostOwners([...this.config.deployments, ...stored], this.hostSuffix);
    const spec: DeploymentSpec = await refusing(async () => {
      const next = current ? patchDeployment(current, fields) : deploymentFromBody(name, fields);
      refuseHostClash(next, this.hostSuffix, (host) => owners.get(host));
      return next;
    });
    await this.store.putDeployment(spec);
    await this.audit(current === undefined ? 'deployment.put' : 'deployment.patch', name);
    return { deployment: deploymentView(spec, false, this.hostSuffix), created: current === undefined };
  }

  async deleteDeployment(name: string): Promise<boolean> {
    this.refuseConfigManaged(name);
    if (!(await this.store.deleteDeployment(name))) return false;
    await this.audit('deployment.delete', name);
    return true;
  }

  close(): Promise<void> {
    return this.store.close();
  }

  /** Stored only: the command's own output is what the operator sees, and there is no gateway log here. */
  private async audit(action: AuditAction, target: string): Promise<void> {
    await recordAudit(this.store, this.config.audit.retention, (event, stored) => {
      if (!stored) process.stderr.write(`gatehouse: warning: the audit event for this change (${event.action} ${event.target}) could not be stored\n`);
    }, action, target, LOCAL);
  }

  private refuseConfigManaged(name: string): void {
    if (this.config.deployments.some((d) => d.name === name)) {
      throw new CommandError(`Deployment "${name}" is managed by ${this.config.source}; change it there and reload the gateways (SIGHUP)`);
    }
  }
}

export async function storeBackend(configFile: string): Promise<Backend> {
  let config;
  try {
    config = loadConfig(configFile);
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandError(`invalid config ${configFile}: ${err.message}`);
    throw err;
  }
  const store = await openStore(config.store);
  try {
    await checkPepper(store, config);
  } catch (err) {
    await store.close();
    if (err instanceof ConfigError) throw new CommandError(`invalid config ${configFile}: ${err.message}`);
    throw err;
  }
  return new StoreBackend(store, config);
}
