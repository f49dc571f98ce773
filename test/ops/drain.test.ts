import { connect } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { hostOf, spawnGateway, writeConfig } from '../helpers/gateway';
import { get } from '../helpers/http';
import { within } from '../helpers/ops';
import { startUpstream, type UpstreamHandler } from '../helpers/upstream';

const SSE_EVENTS = 8;

/** `/slow`: answers after 1.5 s; `/sse`: 8 events 150 ms apart; `/hang`: never answers. */
const upstreamHandler: UpstreamHandler = (req, res) => {
  if (req.url === '/slow') {
    setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('done'); }, 1_500);
  } else if (req.url === '/sse') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let n = 0;
    const timer = setInterval(() => {
      res.write(`data: ${n}\n\n`);
      if (++n === SSE_EVENTS) { clearInterval(timer); res.end(); }
    }, 150);
    res.on('close', () => clearInterval(timer));
  } else if (req.url !== '/hang') {
    res.end('ok');
  }
};

/** True when a new TCP connection to the port is refused. */
function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(true));
  });
}

t.test('SIGTERM during a slow request and an SSE stream: both finish, then exit 0', async (t) => {
  const up = await startUpstream(t, upstreamHandler);
  const { file } = writeConfig({ deployments: [{ name: 'svc', access: 'public', upstreams: [up.url] }] });
  const gw = await spawnGateway(t, file);
  const base = `http://127.0.0.1:${gw.ports.external}`;
  const slow = get(`${base}/slow`, { host: hostOf('svc') }).then((r) => ({ ...r, at: Date.now() }));
  const sse = await request(`${base}/sse`, { headers: { host: hostOf('svc') } });
  t.equal(sse.statusCode, 200);
  const events: string[] = [];
  let firstEvent: () => void = () => {};
  const started = new Promise<void>((resolve) => { firstEvent = resolve; });
  const streamed = (async () => {
    for await (const chunk of sse.body) {
      events.push(...String(chunk).split('\n\n').filter(Boolean));
      firstEvent();
    }
    return Date.now();
  })();
  await started;
  await within(3_000, async () => up.requests.some((r) => r.url === '/slow'));

  gw.child.kill('SIGTERM');
  const closed = await within(2_000, () => refusesConnections(gw.ports.external));
  t.ok(closed !== null, 'new connections are refused at once');
  t.equal(gw.child.exitCode, null, 'while the in-flight requests go on');

  const slowReply = await slow;
  t.equal(slowReply.status, 200, 'the slow request finished');
  t.equal(slowReply.text, 'done');
  const streamEnd = await streamed;
  t.same(events, Array.from({ length: SSE_EVENTS }, (_, i) => `data: ${i}`), 'the SSE stream got every event');
  const code = await gw.exited;
  const exitAt = Date.now();
  t.equal(code, 0, 'exit status 0');
  t.ok(exitAt >= streamEnd && exitAt >= slowReply.at, 'the process exited after both finished');
  t.not(await within(2_000, async () => gw.output().includes('"msg":"stopped"')), null, 'the drain is logged');
  t.match(gw.output(), /"clean":true/, 'and finished cleanly');
});

t.test('SIGTERM with a request that outlives shutdown.grace: exit 0 once the grace period is over', async (t) => {
  const up = await startUpstream(t, upstreamHandler);
  const { file } = writeConfig({
    deployments: [{ name: 'svc', access: 'public', upstreams: [up.url] }],
    extra: { shutdown: { grace: '700ms' } },
  });
  const gw = await spawnGateway(t, file);
  const hanging = get(`http://127.0.0.1:${gw.ports.external}/hang`, { host: hostOf('svc') }).then((r) => r.status, () => 'cut');
  await within(3_000, async () => up.requests.some((r) => r.url === '/hang'));
  const signalledAt = Date.now();
  gw.child.kill('SIGTERM');
  const code = await gw.exited;
  const took = Date.now() - signalledAt;
  t.equal(code, 0, 'exit status 0');
  t.ok(took >= 650, `waited for the grace period (${took} ms)`);
  t.ok(took < 5_000, 'and not much longer');
  t.not(await hanging, 200, 'the request that outlived the grace period was cut');
  t.match(gw.output(), /"clean":false/, 'the drain is logged as not clean');
});
