import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createToken, tokenView } from '../../gateway/auth/token-service';
import { tokenHasher } from '../../gateway/auth/token-hash';
import { EmbeddedStore } from '../../gateway/store/embedded-store';
import { RedisStore } from '../../gateway/store/redis-store';
import type { Store } from '../../gateway/store/types';
import { startRedis } from '../helpers/redis';

const PEPPER = 'pepper-for-rest-test';

/** Mints a few tokens; answers their secrets and stored hashes. */
async function mintSome(store: Store): Promise<{ secrets: string[]; hashes: string[] }> {
  const secrets: string[] = [];
  const hashes: string[] = [];
  for (const [i, kind] of ['user', 'developer', 'both'].entries()) {
    const { token, secret } = await createToken(store, tokenHasher(PEPPER), {
      name: `t${i}`,
      user: kind === 'developer' ? undefined : { deployments: ['*'] },
      developer: kind !== 'user',
      owner: 'alice',
    }, new Set());
    secrets.push(secret);
    hashes.push(token.hash);
  }
  return { secrets, hashes };
}

/** The secret in full, without its prefix, and its random part alone. */
function fragments(secret: string): string[] {
  return [secret, secret.slice(4), secret.slice(4, 34)];
}

function assertAbsent(t: Test, haystack: string, secrets: string[], hashes: string[], where: string): void {
  for (const secret of secrets) {
    for (const fragment of fragments(secret)) t.notOk(haystack.includes(fragment), `${where}: no trace of ${fragment.slice(0, 8)}…`);
  }
  for (const hash of hashes) t.ok(haystack.includes(hash), `${where}: holds the hash (the search looks in the right place)`);
}

t.test('the hash is HMAC-SHA256 of the secret keyed with the pepper', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-rest-'));
  const store = new EmbeddedStore(join(dir, 'a.db'));
  t.teardown(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  const { secrets: [secret], hashes: [hash] } = await mintSome(store);
  t.equal(hash, createHmac('sha256', PEPPER).update(secret!).digest('base64url'));
  t.not(hash, createHash('sha256').update(secret!).digest('base64url'), 'not an unkeyed hash');
  t.not(hash, tokenHasher('another pepper')(secret!), 'another pepper gives another hash');
  const view = JSON.stringify(tokenView((await store.listTokens())[0]!));
  t.notOk(view.includes(hash!) || view.includes(secret!), 'the public view holds neither hash nor secret');
});

t.test('the embedded store file holds hashes, never a secret', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-rest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new EmbeddedStore(join(dir, 'store.db'));
  const { secrets, hashes } = await mintSome(store);
  // Read while open (the WAL holds the latest pages) and again after close (checkpointed).
  const dump = (): string => readdirSync(dir).map((f) => readFileSync(join(dir, f)).toString('latin1')).join('\n');
  assertAbsent(t, dump(), secrets, hashes, 'while open');
  await store.close();
  assertAbsent(t, dump(), secrets, hashes, 'after close');
});

t.test('Redis holds hashes, never a secret', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const store = await RedisStore.connect({ driver: 'redis', url: redis.url, prefix: 'rest:' });
  t.teardown(() => store.close());
  const { secrets, hashes } = await mintSome(store);

  const keys = (await redis.command('KEYS', '*')) as string[];
  t.ok(keys.length > 0, 'keys were written');
  let everything = keys.join('\n');
  for (const key of keys) {
    const type = await redis.command('TYPE', key);
    if (type === 'string') everything += '\n' + String(await redis.command('GET', key));
    else if (type === 'hash') everything += '\n' + ((await redis.command('HGETALL', key)) as string[]).join('\n');
    else t.fail(`unexpected ${String(type)} key ${key}`);
  }
  assertAbsent(t, everything, secrets, hashes, 'keys and values');
});
