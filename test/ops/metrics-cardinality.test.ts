import { randomBytes } from 'node:crypto';
import t from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { hostOf, startGateway } from '../helpers/gateway';
import { rawGrpcCall, startGrpcUpstream } from '../helpers/grpc';
import { get } from '../helpers/http';
import { h2Request, rawRequest } from '../helpers/raw-http';
import { refusingUrl, startUpstream } from '../helpers/upstream';

const word = (): string => randomBytes(6).toString('hex');

/** The label sets of one metric's samples in a Prometheus text scrape. */
function series(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`)).map((l) => l.slice(name.length, l.lastIndexOf(' ')));
}

t.test('whatever clients send, label values stay bounded, and every decision has its counter', async (t) => {
  const up = await startUpstream(t);
  const grpcUp = await startGrpcUpstream(t);
  const dead = await refusingUrl();
  const gw = await startGateway(t, {
    deployments: [
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'hidden', access: 'private', upstreams: [up.url] },
      { name: 'dead', access: 'public', upstreams: [dead] },
      { name: 'rpc', access: 'public', protocol: 'grpc', upstreams: [grpcUp.url] },
    ],
    extra: { failedAuth: { perMinute: 1000 } },
  });
  const valid = await gw.mint({ user: ['guarded'] });
  const developer = await gw.mint({ developer: true });
  const scrape = async (): Promise<string> => (await get(gw.admin + '/metrics')).text;

  const decisions: [string, string, Record<string, string>, string][] = [
    ['open', 'external', {}, 'public'],
    ['guarded', 'external', { authorization: `Bearer ${valid.secret}` }, 'token'],
    ['guarded', 'external', {}, 'missing_token'],
    ['guarded', 'external', { authorization: `Bearer ${generateSecret()}` }, 'invalid_token'],
    ['guarded', 'external', { authorization: `Bearer ${developer.secret}` }, 'insufficient_scope'],
    ['hidden', 'external', {}, 'not_found'],
    ['hidden', 'internal', {}, 'internal'],
    ['dead', 'external', {}, 'upstream_unavailable'],
    ['rpc', 'external', {}, 'wrong_protocol'],
  ];
  for (const [name, listener, headers] of decisions) {
    await get((listener === 'external' ? gw.external : gw.internal) + '/', { host: hostOf(name), ...headers });
  }
  const baseline = await scrape();
  for (const [name, listener, , reason] of decisions) {
    t.match(baseline, new RegExp(`gatehouse_requests_total\\{deployment="${name}",listener="${listener}",protocol="http",reason="${reason}",status="\\d+"\\} 1\\n`), reason);
  }

  // Clients choose hosts, paths, methods and gRPC method names freely.
  for (let i = 0; i < 40; i++) {
    await get(`${gw.external}/${word()}?${word()}=${word()}`, { host: `${word()}.${hostOf('open')}` });
    await get(`${gw.external}/${word()}`, { host: hostOf('open') }, { method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'][i % 6] });
    await h2Request(gw.external, { ':authority': `${word()}.example`, ':method': word().toUpperCase(), ':path': `/${word()}` });
    await h2Request(gw.external, { ':authority': hostOf('open'), ':method': word().toUpperCase(), ':path': `/${word()}` });
    await rawGrpcCall(gw.external, { ':authority': hostOf('rpc'), ':path': `/${word()}.${word()}/${word()}` });
    await rawGrpcCall(gw.external, { ':authority': `${word()}.${word()}`, ':path': `/${word()}/${word()}` });
    await get(`${gw.admin}/v1/${word()}/${word()}`, {});
    await rawRequest(gw.adminPort, `${word().toUpperCase()} /v1/tokens HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`, 200);
  }
  const after = await scrape();
  t.ok(series(after, 'gatehouse_requests_total').length <= series(baseline, 'gatehouse_requests_total').length + 6,
    `request series stay few: ${series(after, 'gatehouse_requests_total').join(' ')}`);
  t.ok(series(after, 'gatehouse_request_duration_seconds_count').length <= 12, 'latency series stay few');
  t.ok(series(after, 'gatehouse_admin_requests_total').length <= 4, `admin series stay few: ${series(after, 'gatehouse_admin_requests_total').join(' ')}`);
  t.notMatch(after, /="[^"]*[0-9a-f]{12}/i, 'no client-chosen value is a label');
});

t.test('the latency histogram runs to the end of the response, not to its headers', async (t) => {
  const slow = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first');
    setTimeout(() => res.end('last'), 300);
  });
  const gw = await startGateway(t, { deployments: [{ name: 'slow', access: 'public', upstreams: [slow.url] }] });
  const h1 = await get(gw.external + '/', { host: hostOf('slow') });
  const h2 = await h2Request(gw.external, { ':authority': hostOf('slow') });
  t.equal(h1.text + h2.body.toString(), 'firstlastfirstlast');
  const text = (await get(gw.admin + '/metrics')).text;
  const sum = /gatehouse_request_duration_seconds_sum\{deployment="slow",listener="external",protocol="http"\} ([\d.e-]+)/.exec(text);
  const count = /gatehouse_request_duration_seconds_count\{deployment="slow",listener="external",protocol="http"\} (\d+)/.exec(text);
  t.equal(count?.[1], '2', 'both requests observed');
  t.ok(Number(sum?.[1]) >= 0.58, `both lasted their whole body: ${sum?.[1]}`);
  t.match(text, /gatehouse_request_duration_seconds_bucket\{le="0.25",deployment="slow",listener="external",protocol="http"\} 0\n/, 'neither in a bucket below its length');
});
