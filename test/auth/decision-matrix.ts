import type { Test } from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { hostOf, ORG, startGateway, type GatewayOptions, type TestGateway } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';
import { countStoreReads, expectRefusal, send, sleep, until } from './probes';

/** How a store is plugged into the matrix. */
export interface Backing {
  /** The `store:` section for one more gateway (a fresh, empty store each time). */
  store(): GatewayOptions['store'];
  /** Makes the running gateway's store unreachable (kill Redis, lose the SQLite handle). */
  outage(gw: TestGateway): Promise<void>;
}

const MISSING = `Bearer realm="${ORG}"`;
const INVALID = `Bearer realm="${ORG}", error="invalid_token"`;
const SCOPE = `Bearer realm="${ORG}", error="insufficient_scope"`;
/** Revocation and Deployment changes reach every process within one second (SPEC §4). */
const PROPAGATION_MS = 1_000;

/** Malformed in every way the format allows: prefix, length, alphabet, checksum, scheme. */
export function malformedAuthorizations(): string[] {
  const good = generateSecret();
  const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'a' ? 'b' : 'a') + s.slice(i + 1);
  return [
    'Bearer gth_short',
    `Bearer ${good}x`,
    `Bearer ${good.slice(0, -1)}`,
    `Bearer ght_${good.slice(4)}`,
    `Bearer ${flip(good, 20)}`,
    `Bearer ${flip(good, 38)}`,
    `Bearer ${good.slice(0, 12)}-${good.slice(13)}`,
    'Bearer',
    'Bearer ',
    `Basic ${Buffer.from('user:pass').toString('base64')}`,
    `Token ${good}`,
    good,
  ];
}

/**
 * Every HTTP row of SPEC §2 against one store. Written once; each store's
 * test file runs it. The outage row runs last since it breaks the store.
 */
export function decisionMatrix(t: Test, backing: Backing): void {
  t.test('SPEC §2 decisions on HTTP', async (t) => {
    const up = await startUpstream(t);
    const dead = await startUpstream(t);
    await dead.close(); // a port that refuses connections
    const deployments = [
      { name: 'open', access: 'public' as const, upstreams: [up.url] },
      { name: 'guarded', access: 'protected' as const, upstreams: [up.url] },
      { name: 'other', access: 'protected' as const, upstreams: [up.url] },
      { name: 'hidden', access: 'private' as const, upstreams: [up.url] },
      { name: 'dead', access: 'public' as const, upstreams: [dead.url] },
      { name: 'dead-guarded', access: 'protected' as const, upstreams: [dead.url] },
    ];
    // A generous failure budget here: the 429 row has a gateway of its own.
    const gw = await startGateway(t, { store: backing.store(), deployments, extra: { failedAuth: { perMinute: 10_000 } } });
    const reads = countStoreReads(gw.gateway);
    const ext = (name: string, headers: Record<string, string> = {}) => send(gw.external + '/x', { host: hostOf(name), ...headers });
    const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });
    const forwarded = (): number => up.requests.length;

    const { secret: guardedOnly } = await gw.mint({ user: ['guarded'] });
    const { secret: star } = await gw.mint({ user: ['*'] });
    const { secret: developerOnly } = await gw.mint({ developer: true });
    const { secret: both } = await gw.mint({ user: ['guarded'], developer: true });

    await t.test('unknown host and private Deployment: the same 404', async (t) => {
      const before = forwarded();
      const unknown = await send(gw.external + '/x', { host: 'nothing.acme.gw.test' });
      const hidden = await ext('hidden');
      const hiddenWithToken = await ext('hidden', bearer(star));
      for (const [what, reply] of [['unknown host', unknown], ['private', hidden], ['private with a "*" token', hiddenWithToken]] as const) {
        expectRefusal(t, reply, { status: 404, code: 'not_found', challenge: null }, what);
      }
      const blank = (text: string): unknown => ({ ...(JSON.parse(text) as object), request_id: '' });
      t.same(blank(hidden.text), blank(unknown.text), 'private body equals unknown-host body');
      t.same(blank(hiddenWithToken.text), blank(unknown.text), 'a token changes nothing');
      t.notMatch(hidden.text, /hidden/, 'the body does not echo the host');
      t.equal(hidden.headers['content-length'], unknown.headers['content-length'], 'same length');
      t.equal(forwarded(), before, 'nothing forwarded');
    });

    await t.test('protected without Authorization: 401 with the realm challenge', async (t) => {
      const before = forwarded();
      expectRefusal(t, await ext('guarded'), { status: 401, code: 'missing_token', challenge: MISSING }, 'no Authorization');
      t.equal(forwarded(), before, 'nothing forwarded');
    });

    await t.test('malformed tokens: 401 invalid_token, no store read', async (t) => {
      const before = { reads: reads(), forwarded: forwarded() };
      for (const authorization of malformedAuthorizations()) {
        expectRefusal(t, await ext('guarded', { authorization }), { status: 401, code: 'invalid_token', challenge: INVALID }, JSON.stringify(authorization));
      }
      t.equal(reads(), before.reads, 'malformed secrets never reach the store');
      t.equal(forwarded(), before.forwarded, 'nothing forwarded');
    });

    await t.test('unknown, expired, revoked and disabled tokens: 401 invalid_token', async (t) => {
      const invalid = (reply: Awaited<ReturnType<typeof ext>>, what: string): void =>
        expectRefusal(t, reply, { status: 401, code: 'invalid_token', challenge: INVALID }, what);

      const readsBefore = reads();
      invalid(await ext('guarded', bearer(generateSecret())), 'unknown (well-formed) token');
      t.equal(reads(), readsBefore + 1, 'a well-formed token is looked up');

      const expired = await gw.mint({ user: ['guarded'] });
      await gw.gateway.runtime.store.updateToken(expired.token.id, { expiresAt: '2001-01-01T00:00:00.000Z' });
      invalid(await ext('guarded', bearer(expired.secret)), 'expired token');

      const shortLived = await gw.mint({ user: ['guarded'], expiresAt: new Date(Date.now() + 1_500).toISOString() });
      t.equal((await ext('guarded', bearer(shortLived.secret))).status, 200, 'valid until it expires');
      await sleep(Date.parse(shortLived.token.expiresAt ?? '') - Date.now() + 50);
      invalid(await ext('guarded', bearer(shortLived.secret)), 'token expired while cached');

      const revoked = await gw.mint({ user: ['guarded'] });
      t.equal((await ext('guarded', bearer(revoked.secret))).status, 200, 'works before revocation (now cached)');
      t.ok(await gw.gateway.runtime.store.deleteToken(revoked.token.id));
      const revokeMs = await until(() => ext('guarded', bearer(revoked.secret)), (r) => r.status !== 200, 3_000);
      t.ok(revokeMs <= PROPAGATION_MS, `revocation took effect in ${revokeMs} ms`);
      invalid(await ext('guarded', bearer(revoked.secret)), 'revoked (deleted) token');

      const toggled = await gw.mint({ user: ['guarded'] });
      t.equal((await ext('guarded', bearer(toggled.secret))).status, 200, 'works before it is disabled');
      await gw.gateway.runtime.store.updateToken(toggled.token.id, { disabled: true });
      const disableMs = await until(() => ext('guarded', bearer(toggled.secret)), (r) => r.status !== 200, 3_000);
      t.ok(disableMs <= PROPAGATION_MS, `disabling took effect in ${disableMs} ms`);
      invalid(await ext('guarded', bearer(toggled.secret)), 'disabled token');
      await gw.gateway.runtime.store.updateToken(toggled.token.id, { disabled: false });
      const enableMs = await until(() => ext('guarded', bearer(toggled.secret)), (r) => r.status === 200, 3_000);
      t.ok(enableMs <= PROPAGATION_MS, `enabled again, with the same secret, in ${enableMs} ms`);
    });

    await t.test('a valid token without access: 403 insufficient_scope', async (t) => {
      const before = forwarded();
      expectRefusal(t, await ext('other', bearer(guardedOnly)), { status: 403, code: 'insufficient_scope', challenge: SCOPE }, 'other Deployment');
      expectRefusal(t, await ext('guarded', bearer(developerOnly)), { status: 403, code: 'insufficient_scope', challenge: SCOPE }, 'developer-only token');
      t.equal(forwarded(), before, 'nothing forwarded');
      t.equal((await ext('guarded', bearer(guardedOnly))).status, 200, 'its own Deployment opens');
      t.equal((await ext('guarded', bearer(both))).status, 200, 'user + developer opens its Deployment');
    });

    await t.test('user "*" opens every protected Deployment, never a private one', async (t) => {
      t.equal((await ext('guarded', bearer(star))).status, 200);
      t.equal((await ext('other', bearer(star))).status, 200);
      t.equal((await ext('hidden', bearer(star))).status, 404);
      const seen = up.requests[up.requests.length - 1];
      t.notOk(seen?.headers.authorization, 'Authorization is not forwarded');
    });

    await t.test('public Deployments need no token and never touch the store', async (t) => {
      const before = reads();
      t.equal((await ext('open')).status, 200, 'no token');
      t.equal((await ext('open', { authorization: 'Bearer nonsense' })).status, 200, 'a malformed token is ignored');
      t.equal((await ext('open', bearer(generateSecret()))).status, 200, 'an unknown token is ignored');
      t.equal(reads(), before, 'no store read');
    });

    await t.test('the internal listener opens every Deployment, private too, without a token', async (t) => {
      const before = reads();
      for (const name of ['open', 'guarded', 'other', 'hidden']) {
        const reply = await send(gw.internal + '/x', { host: hostOf(name) });
        t.equal(reply.status, 200, name);
      }
      t.equal((await send(gw.internal + '/x', { host: hostOf('hidden'), authorization: 'Bearer junk' })).status, 200, 'a bad token is ignored');
      t.equal((await send(gw.internal + '/x', { host: 'nothing.acme.gw.test' })).status, 404, 'unknown hosts stay 404');
      t.equal(reads(), before, 'no store read');
    });

    await t.test('upstream refused: 502', async (t) => {
      expectRefusal(t, await ext('dead'), { status: 502, code: 'upstream_unavailable', challenge: null }, 'public');
      expectRefusal(t, await ext('dead-guarded', bearer(star)), { status: 502, code: 'upstream_unavailable', challenge: null }, 'protected');
    });

    await t.test('too many failed attempts from one address: 429 with Retry-After, counted in process', async (t) => {
      const PER_MINUTE = 5;
      const limited = await startGateway(t, { store: backing.store(), deployments, extra: { failedAuth: { perMinute: PER_MINUTE } } });
      const limitedReads = countStoreReads(limited.gateway);
      const { secret } = await limited.mint({ user: ['guarded'] });
      const at = (name: string, headers: Record<string, string> = {}, from?: string) =>
        send(limited.external + '/x', { host: hostOf(name), ...headers }, from);

      for (let i = 0; i < PER_MINUTE; i++) {
        t.equal((await at('guarded', { authorization: 'Bearer gth_nope' })).status, 401, `failure ${i + 1} is a 401`);
      }
      const over = await at('guarded', { authorization: 'Bearer gth_nope' });
      expectRefusal(t, over, { status: 429, code: 'too_many_failed_attempts', challenge: null }, 'over the budget');
      const retryAfter = Number(over.headers['retry-after']);
      t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${over.headers['retry-after']} is 1–60 s`);

      const before = limitedReads();
      t.equal((await at('guarded', bearer(generateSecret()))).status, 429, 'a well-formed token is not even looked up');
      t.equal((await at('guarded', bearer(secret))).status, 429, 'the address is refused, whatever it sends');
      t.equal(limitedReads(), before, 'no store traffic while limited');
      t.equal((await at('open')).status, 200, 'public Deployments are not limited');
      t.equal((await at('guarded', bearer(secret), '127.0.0.2')).status, 200, 'another address is unaffected');
    });

    await t.test('store unreachable: uncached tokens 503 with Retry-After; cached tokens and public Deployments served', async (t) => {
      t.equal((await ext('guarded', bearer(guardedOnly))).status, 200, 'cached before the outage');
      const { secret: neverUsed } = await gw.mint({ user: ['guarded'] });
      await backing.outage(gw);

      for (const [what, secret] of [['valid, never used', neverUsed], ['unknown', generateSecret()]] as const) {
        const reply = await ext('guarded', bearer(secret));
        expectRefusal(t, reply, { status: 503, code: 'store_unavailable', challenge: null }, what);
        t.ok(Number(reply.headers['retry-after']) >= 1, `${what}: Retry-After ${reply.headers['retry-after']}`);
      }
      t.equal((await ext('guarded', bearer(guardedOnly))).status, 200, 'a cached token keeps working');
      t.equal((await ext('open')).status, 200, 'public Deployments are unaffected');
      t.equal((await ext('guarded')).status, 401, 'no token is still a 401');
      t.equal((await ext('guarded', { authorization: 'Bearer gth_nope' })).status, 401, 'a malformed token is still a 401');
      t.equal((await send(gw.internal + '/x', { host: hostOf('hidden') })).status, 200, 'internal traffic is unaffected');
    });
  });
}
