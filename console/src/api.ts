/** The admin API (SPEC §6) as the console uses it, and the session token. */

export type AccessType = 'private' | 'protected' | 'public';
export const ACCESS_TYPES: readonly AccessType[] = ['private', 'protected', 'public'];

export interface TokenView {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly owner: string;
  readonly created_at: string;
  readonly expires_at: string | null;
  readonly last_used_at: string | null;
  readonly disabled: boolean;
  readonly user: { readonly deployments: readonly string[] } | null;
  readonly developer: boolean;
  readonly limits?: Limits | null;
}

/** A token's limits as the API shows and takes them; null for a kind: none. */
export interface Limits {
  readonly requests_per_minute: number | null;
  readonly concurrent: number | null;
}

export interface Whoami {
  readonly user: string;
  readonly organization: string;
  readonly token: TokenView;
}

export interface DeploymentView {
  readonly name: string;
  readonly access: AccessType;
  readonly protocol: 'http' | 'grpc';
  readonly upstreams: readonly string[];
  readonly hosts: readonly string[];
  /** `<name>.<organization>.<domain>`. */
  readonly default_host: string;
  readonly config_managed: boolean;
}

/** `GET /v1/tokens/{id}/usage`. */
export interface UsageView {
  readonly token_id: string;
  readonly since: string;
  readonly requests: number;
  readonly bytes_in: number;
  readonly bytes_out: number;
}

/** `POST /v1/tokens/{id}/rotate`. */
export interface Rotated {
  readonly token: TokenView;
  readonly secret: string;
  /** When the old secret stops; null: it already has. */
  readonly previous_secret_valid_until: string | null;
}

export interface AuditEventView {
  readonly id: string;
  readonly time: string;
  readonly action: string;
  readonly target: string;
  readonly actor: { readonly token_id: string | null; readonly user: string };
  readonly request_id: string | null;
  readonly client_address: string | null;
}

export interface NewToken {
  readonly name: string;
  readonly description: string;
  readonly user?: { readonly deployments: readonly string[] };
  readonly developer?: boolean;
  readonly expires_at?: string;
  readonly limits?: Limits;
}

/**
 * A refusal from the API. `field` is the field at fault — the body's `field`,
 * else the one its message starts with (`"user.deployments[0]: unknown
 * Deployment"` → `user.deployments[0]`) — so a form can show it in place.
 */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field: string | null) {
    super(message);
    this.name = 'ApiError';
  }
}

const FIELD = /^([A-Za-z_][\w.[\]]*): (.+)$/s;

/** Calls the admin API with a developer token. */
export class Api {
  constructor(private readonly token: string) {}

  whoami(): Promise<Whoami> {
    return this.call('GET', '/v1/whoami');
  }

  async tokens(): Promise<TokenView[]> {
    return (await this.call<{ tokens: TokenView[] }>('GET', '/v1/tokens')).tokens;
  }

  createToken(body: NewToken): Promise<{ token: TokenView; secret: string }> {
    return this.call('POST', '/v1/tokens', body);
  }

  async setDisabled(id: string, disabled: boolean): Promise<TokenView> {
    return (await this.call<{ token: TokenView }>('PATCH', `/v1/tokens/${encodeURIComponent(id)}`, { disabled })).token;
  }

  async setLimits(id: string, limits: Limits | null): Promise<TokenView> {
    return (await this.call<{ token: TokenView }>('PATCH', `/v1/tokens/${encodeURIComponent(id)}`, { limits })).token;
  }

  rotate(id: string, overlap: string): Promise<Rotated> {
    return this.call('POST', `/v1/tokens/${encodeURIComponent(id)}/rotate`, { overlap });
  }

  async usage(id: string, since: string): Promise<UsageView> {
    return (await this.call<{ usage: UsageView }>('GET', `/v1/tokens/${encodeURIComponent(id)}/usage?since=${encodeURIComponent(since)}`)).usage;
  }

  audit(limit: number, before: string | null): Promise<{ events: AuditEventView[]; next: string | null }> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (before !== null) query.set('before', before);
    return this.call('GET', `/v1/audit?${query.toString()}`);
  }

  async deleteToken(id: string): Promise<void> {
    await this.call('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
  }

  async deployments(): Promise<DeploymentView[]> {
    return (await this.call<{ deployments: DeploymentView[] }>('GET', '/v1/deployments')).deployments;
  }

  async setAccess(name: string, access: AccessType): Promise<DeploymentView> {
    const reply = await this.call<{ deployment?: DeploymentView } & Partial<DeploymentView>>('PATCH', `/v1/deployments/${encodeURIComponent(name)}`, { access });
    return reply.deployment ?? (reply as DeploymentView);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit' });
    } catch {
      throw new ApiError(0, 'network', 'The admin API cannot be reached. Check the gateway is running.', null);
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (res.ok) return parsed as T;
    const { error, message, field } = (parsed ?? {}) as { error?: string; message?: string; field?: string };
    const shown = message ?? `The admin API answered ${res.status}.`;
    throw new ApiError(res.status, error ?? `http_${res.status}`, shown, field ?? FIELD.exec(shown)?.[1] ?? null);
  }
}
