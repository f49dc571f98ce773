import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import t from 'tap';
import { FIXTURES, hostOf, spawnGateway, startGateway, writeConfig } from '../helpers/gateway';
import { echoClient, startGrpcUpstream, unary } from '../helpers/grpc';

// The gateway verifies upstream certificates against the system CAs; a gateway
// process given the test CA (NODE_EXTRA_CA_CERTS) trusts the test upstream.
t.test('https:// upstreams are reached over h2 with TLS, and their certificates are verified', async (t) => {
  const up = await startGrpcUpstream(t, { tls: true });
  const { file } = writeConfig({ deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [up.url] }] });

  const trusting = await spawnGateway(t, file, { NODE_EXTRA_CA_CERTS: join(FIXTURES, 'tls', 'ca.crt') });
  const res = await unary(echoClient(t, trusting.ports.external, hostOf('open'), { tls: false }), { text: 'over tls' });
  t.equal(res.code, grpc.status.OK);
  t.equal(res.reply?.text, 'over tls');
  t.equal(up.calls.length, 1);

  // This process (and its in-process gateway) does not trust the test CA.
  const untrusting = await startGateway(t, { deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [up.url] }] });
  const refused = await unary(echoClient(t, untrusting.externalPort, hostOf('open'), { tls: false }), { text: 'x' });
  t.equal(refused.code, grpc.status.UNAVAILABLE, 'an upstream certificate the gateway does not trust: 14');
  t.equal(up.calls.length, 1, 'and nothing reached the upstream');
});
