import { createToken } from '../../gateway/auth/token-service';
import { tokenHasher } from '../../gateway/auth/token-hash';
import { loadConfig } from '../../gateway/config/load';
import { openStore } from '../../gateway/store/open-store';
import type { TokenRecord } from '../../gateway/store/types';
import { PEPPER } from './gateway';
import { get, type Reply } from './http';

/**
 * Polls `check` every `everyMs` until it holds; resolves with the time (ms
 * since `since`) at which the successful check *started*, or null after `ms`.
 */
export async function within(ms: number, check: () => Promise<boolean>, since = Date.now(), everyMs = 20): Promise<number | null> {
  const deadline = since + ms;
  for (;;) {
    const started = Date.now();
    if (await check()) return started - since;
    if (Date.now() >= deadline) return null;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Creates tokens in the store a config file names, from this process (as the CLI with --config does). */
export async function mintInStore(
  configFile: string,
  inputs: { name?: string; user?: string[]; developer?: boolean; owner?: string }[],
): Promise<{ secret: string; token: TokenRecord }[]> {
  const config = loadConfig(configFile);
  const store = await openStore(config.store);
  try {
    const known = new Set(config.deployments.map((d) => d.name));
    for (const d of await store.listDeployments()) known.add(d.name);
    known.add('*');
    const made = [];
    for (const input of inputs) {
      made.push(await createToken(store, tokenHasher(PEPPER), {
        name: input.name ?? 'ops test', user: input.user ? { deployments: input.user } : undefined,
        developer: input.developer ?? false, owner: input.owner ?? 'tester',
      }, known));
    }
    return made;
  } finally {
    await store.close();
  }
}

/** One admin API call with a developer token; `body` goes as JSON. */
export function adminCall(adminUrl: string, token: string, method: string, path: string, body?: unknown): Promise<Reply> {
  return get(adminUrl + path, { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
  });
}
