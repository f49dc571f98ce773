import t from 'tap';
import WebSocket from 'ws';
import { hostOf, startGateway } from '../helpers/gateway';
import { rawGrpcCall, startGrpcUpstream } from '../helpers/grpc';
import { get } from '../helpers/http';
import { h2Request } from '../helpers/raw-http';
import { startWsUpstream } from '../helpers/upstream';

t.test('while draining, every refused request has its one log line', async (t) => {
  const { url } = await startWsUpstream(t);
  const grpcUp = await startGrpcUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [url] },
      { name: 'rpc', access: 'public', protocol: 'grpc', upstreams: [grpcUp.url] },
    ],
  });
  gw.gateway.runtime.draining = true;

  t.equal((await get(gw.external + '/', { host: hostOf('open'), 'x-request-id': 'drain-h1' })).status, 503);
  t.equal((await h2Request(gw.external, { ':authority': hostOf('open'), 'x-request-id': 'drain-h2' })).status, 503);
  const call = await rawGrpcCall(gw.external, { ':authority': hostOf('rpc'), ':path': '/gatehouse.test.Echo/Unary', 'x-request-id': 'drain-grpc' });
  t.equal(call.headers['grpc-status'], '14');
  const wsStatus = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.externalPort}/`, { headers: { host: hostOf('open'), 'x-request-id': 'drain-ws' } });
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(0));
  });
  t.equal(wsStatus, 503, 'a WebSocket handshake is refused like any request (an open one would hold the drain)');

  await new Promise((r) => setTimeout(r, 200));
  for (const id of ['drain-h1', 'drain-h2', 'drain-grpc', 'drain-ws']) {
    const lines = gw.logs.filter((l) => l.request_id === id && l.msg === 'request');
    t.equal(lines.length, 1, `${id}: one line`);
    t.match(lines[0], { reason: 'shutting_down', listener: 'external' }, `${id}: its reason`);
  }
});
