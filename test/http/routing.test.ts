import t from 'tap';
import { hostOf, startGateway, type Teardown } from '../helpers/gateway';
import { get } from '../helpers/http';
import { h2Request, rawRequest } from '../helpers/raw-http';
import { startUpstream, type TestUpstream, refusingUrl } from '../helpers/upstream';


/** An upstream that answers with its own name. */
function named(t: Teardown, name: string): Promise<TestUpstream> {
  return startUpstream(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end(name));
  });
}

t.test('routing by Host and :authority', async (t) => {
  const a = await named(t, 'a');
  const b = await named(t, 'b');
  const gw = await startGateway(t, {
    deployments: [
      { name: 'alpha', access: 'public', upstreams: [a.url], hosts: ['api.example.com', 'Models.Example.ORG'] },
      { name: 'beta', access: 'public', upstreams: [b.url], hosts: ['*.models.example.net', 'exact.models.example.org'] },
    ],
  });
  const cases: [string, string | number][] = [
    [hostOf('alpha'), 'a'],
    ['ALPHA.Acme.GW.test', 'a'],
    [`${hostOf('alpha')}:8080`, 'a'],
    ['Alpha.acme.gw.test:443', 'a'],
    ['api.example.com', 'a'],
    ['API.EXAMPLE.COM:9', 'a'],
    ['models.example.org', 'a'],
    [hostOf('beta'), 'b'],
    ['BETA.acme.gw.test:1', 'b'],
    ['gamma.acme.gw.test', 404],
    ['example.com', 404],
    ['alpha', 404],
    ['alpha.acme.gw.test.evil.example', 404],
    ['127.0.0.1', 404],
    ['eu.models.example.net', 'b'],
    ['EU.Models.Example.NET:443', 'b'],
    ['models.example.net', 404],
    ['a.eu.models.example.net', 404],
    ['other.models.example.org', 404],
  ];
  for (const [host, expected] of cases) {
    const h1 = await get(gw.external + '/', { host });
    const h2 = await h2Request(gw.external, { ':authority': host });
    if (typeof expected === 'number') {
      t.equal(h1.status, expected, `HTTP/1.1 Host ${host}`);
      t.equal(h2.status, expected, `HTTP/2 :authority ${host}`);
    } else {
      t.equal(h1.text, expected, `HTTP/1.1 Host ${host} → ${expected}`);
      t.equal(h2.body.toString(), expected, `HTTP/2 :authority ${host} → ${expected}`);
    }
  }
  const h2Host = await h2Request(gw.external, { ':authority': 'whatever.invalid', host: hostOf('beta') });
  t.equal(h2Host.status, 404, ':authority wins over a Host header on HTTP/2');
  const absolute = await rawRequest(gw.externalPort,
    `GET http://${hostOf('beta')}/ HTTP/1.1\r\nHost: ${hostOf('alpha')}\r\nConnection: close\r\n\r\n`);
  t.equal(absolute.status, 200);
  t.match(absolute.text, /\r\n\r\n[\s\S]*a$/, 'an absolute-form target does not override Host');
});

t.test('round robin across upstreams', async (t) => {
  const ups = await Promise.all(['a', 'b', 'c'].map((n) => named(t, n)));
  const gw = await startGateway(t, { deployments: [{ name: 'rr', access: 'public', upstreams: ups.map((u) => u.url) }] });
  const seen: string[] = [];
  for (let i = 0; i < 9; i++) seen.push((await get(gw.external + '/', { host: hostOf('rr') })).text);
  t.same(seen.slice().sort(), ['a', 'a', 'a', 'b', 'b', 'b', 'c', 'c', 'c'], 'each upstream gets its share');
  t.same(seen.slice(0, 3).sort(), ['a', 'b', 'c'], 'in turn');
});

t.test('an upstream that refuses connections is skipped', async (t) => {
  const dead = await refusingUrl();
  const live = await named(t, 'live');
  const gw = await startGateway(t, { deployments: [
    { name: 'rr', access: 'public', upstreams: [dead, live.url] },
    { name: 'posts', access: 'public', upstreams: [dead, live.url] },
  ] });

  const first = await get(gw.external + '/', { host: hostOf('rr') });
  t.equal(first.status, 200, 'a body-less request refused by the first upstream is retried on the next');
  t.equal(first.text, 'live');
  for (let i = 0; i < 6; i++) {
    const r = await get(gw.external + '/', { host: hostOf('rr') }, { method: 'POST', body: 'payload' });
    t.equal(r.status, 200, `request ${i} with a body skips the upstream that just refused`);
  }
  t.equal(live.requests.length, 7);

  // A request with a body is not replayed (its body is already streaming), so it fails over only for the next request.
  const posted = await get(gw.external + '/', { host: hostOf('posts') }, { method: 'POST', body: 'payload' });
  t.equal(posted.status, 502, 'a request with a body sent to a refusing upstream gets 502');
  t.equal(posted.json().error, 'upstream_unavailable');
  const after = await get(gw.external + '/', { host: hostOf('posts') }, { method: 'POST', body: 'payload' });
  t.equal(after.status, 200, 'the next one goes to the upstream that is up');
});

t.test('every upstream refusing: 502 after trying each once', async (t) => {
  const gw = await startGateway(t, { deployments: [{ name: 'down', access: 'public', upstreams: [await refusingUrl(), await refusingUrl()] }] });
  const r = await get(gw.external + '/', { host: hostOf('down') });
  t.equal(r.status, 502);
  t.same(Object.keys(r.json()).sort(), ['error', 'message', 'request_id']);
  const again = await get(gw.external + '/', { host: hostOf('down') });
  t.equal(again.status, 502, 'still 502 (not a hang) while all are marked down');
});
