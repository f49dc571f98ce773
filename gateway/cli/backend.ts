import { createToken, tokenView } from '../auth/token-service';
import { tokenHasher } from '../auth/token-hash';
import { ConfigError } from '../config/env';
import { loadConfig } from '../config/load';
import { isGatehouseError } from '../errors';
import { openStore } from '../store/open-store';
import type { Store } from '../store/types';
import { CommandError } from './args';
import { userInfo } from 'node:os';

export type TokenJson = Record<string, unknown>;

export interface NewToken {
  name: string;
  description?: string;
  user?: { deployments: string[] };
  developer: boolean;
  expires_at?: string;
  owner?: string;
}

/** Where token and Deployment commands act: a store directly (--config) or the admin API. */
export interface Backend {
  createToken(request: NewToken): Promise<{ token: TokenJson; secret: string }>;
  listTokens(): Promise<TokenJson[]>;
  deleteToken(id: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Acts on a config's store directly: how an operator mints the first developer token. */
class StoreBackend implements Backend {
  constructor(private readonly store: Store, private readonly pepper: string, private readonly configured: ReadonlySet<string>) {}

  async createToken(request: NewToken): Promise<{ token: TokenJson; secret: string }> {
    const known = new Set(this.configured);
    for (const d of await this.store.listDeployments()) known.add(d.name);
    try {
      const { token, secret } = await createToken(this.store, tokenHasher(this.pepper), {
        ...request,
        owner: request.owner ?? process.env.USER ?? userInfo().username,
      }, known);
      return { token: tokenView(token), secret };
    } catch (err) {
      if (isGatehouseError(err)) throw new CommandError(err.message);
      throw err;
    }
  }

  async listTokens(): Promise<TokenJson[]> {
    return (await this.store.listTokens()).map(tokenView);
  }

  deleteToken(id: string): Promise<boolean> {
    return this.store.deleteToken(id);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

export async function storeBackend(configFile: string): Promise<StoreBackend> {
  let config;
  try {
    config = loadConfig(configFile);
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandError(`invalid config ${configFile}: ${err.message}`);
    throw err;
  }
  const store = await openStore(config.store);
  return new StoreBackend(store, config.tokens.pepper, new Set(config.deployments.map((d) => d.name)));
}

export async function backendFor(configFile: string | undefined): Promise<Backend> {
  if (configFile !== undefined) return storeBackend(configFile);
  throw new CommandError('not logged in: run "gatehouse login --api-token TOKEN --endpoint URL" or pass --config FILE');
}
