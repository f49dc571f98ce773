import http2 from 'node:http2';
import t from 'tap';
import { Client } from 'undici';
import { hostOf, startGateway } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';
import { until } from './probes';

/**
 * A connection's last credential is compared, not hashed again (Decider): the
 * decisions stay those of the token each request carries, whatever came before
 * it on the connection, and the hash is computed once per connection and credential.
 */
t.test('the last credential of a connection', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'other', access: 'protected', upstreams: [up.url] },
    ],
    extra: { failedAuth: { perMinute: 1_000 } },
  });
  const a = await gw.mint({ user: ['guarded'] });
  const b = await gw.mint({ user: ['other'] });
  const decider = gw.gateway.runtime.decider as unknown as { hash: (secret: string) => string };
  const hash = decider.hash;
  let hashed = 0;
  decider.hash = (secret) => {
    hashed++;
    return hash(secret);
  };

  await t.test('HTTP/1.1: one hash per connection and credential, every decision the token\'s own', async (t) => {
    const client = new Client(gw.external, { pipelining: 1 });
    t.teardown(() => client.close());
    const status = async (authorization: string, host = hostOf('guarded')): Promise<number> => {
      const res = await client.request({ path: '/x', method: 'GET', headers: { host, authorization } });
      await res.body.text();
      return res.statusCode;
    };
    const before = hashed;
    for (let i = 0; i < 5; i++) t.equal(await status(`Bearer ${a.secret}`), 200, `request ${i + 1} with A`);
    t.equal(hashed - before, 1, 'five requests with A on one connection: hashed once');

    t.equal(await status(`Bearer ${a.secret.slice(0, -1)}${a.secret.endsWith('0') ? '1' : '0'}`), 401, 'then a mistyped A: 401');
    const firstChanged = `gth_${a.secret[4] === 'A' ? 'B' : 'A'}${a.secret.slice(5)}`;
    t.equal(await status(`Bearer ${firstChanged}`), 401, 'then A with its first character changed (the same length): 401');
    t.equal(await status(`Bearer ${a.secret} `), 200, 'A with a trailing space (another header, the same secret): 200');
    t.equal(await status(`Bearer ${b.secret}`), 403, 'then B, scoped to another Deployment: 403');
    t.equal(await status(`Bearer ${b.secret}`, hostOf('other')), 200, 'B on its own Deployment: 200');
    t.equal(await status(`Bearer ${a.secret}`), 200, 'A again: 200');
    t.equal(await status(`Bearer ${a.secret}`, hostOf('other')), 403, 'A on the other Deployment: 403');

    const other = new Client(gw.external);
    t.teardown(() => other.close());
    const beforeOther = hashed;
    const res = await other.request({ path: '/x', method: 'GET', headers: { host: hostOf('guarded'), authorization: `Bearer ${a.secret}` } });
    await res.body.text();
    t.equal(res.statusCode, 200);
    t.equal(hashed - beforeOther, 1, 'another connection hashes for itself');

    await gw.gateway.runtime.store.updateToken(a.token.id, { disabled: true });
    const took = await until(() => status(`Bearer ${a.secret}`), (s) => s === 401, 1_000);
    t.ok(took <= 1_000, `A disabled: refused on the kept connection within 1 s (${took} ms)`);
    await gw.gateway.runtime.store.updateToken(a.token.id, { disabled: false });
    await until(() => status(`Bearer ${a.secret}`), (s) => s === 200, 1_000);
  });

  await t.test('HTTP/2: the streams of one session share it', async (t) => {
    const session = http2.connect(gw.external);
    t.teardown(() => session.close());
    const status = (secret: string): Promise<number> => new Promise((resolve, reject) => {
      const stream = session.request({ ':path': '/x', ':authority': hostOf('guarded'), authorization: `Bearer ${secret}` });
      stream.on('response', (h) => { stream.resume(); stream.on('end', () => resolve(Number(h[':status']))); });
      stream.on('error', reject);
    });
    const before = hashed;
    t.same(await Promise.all([status(a.secret), status(a.secret), status(a.secret)]), [200, 200, 200]);
    t.equal(await status(a.secret), 200);
    t.equal(hashed - before, 1, 'four streams with A on one session: hashed once');
    t.equal(await status(b.secret), 403, 'B on the same session: its own decision');
    t.equal(await status(a.secret), 200, 'and A again');
  });
});
