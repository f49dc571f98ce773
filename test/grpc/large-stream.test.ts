import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { echoClient, startGrpcUpstream, type EchoReply } from '../helpers/grpc';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
const TOTAL = 200 * MiB;

t.test('a 200 MiB server stream through the gateway with bounded memory', async (t) => {
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, { tls: true, deployments: [{ name: 'iris', access: 'protected', protocol: 'grpc', upstreams: [up.url] }] });
  const { secret } = await gw.mint({ user: ['iris'] });
  const client = echoClient(t, gw.externalPort, hostOf('iris'), { tls: true, token: secret });

  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
  t.teardown(() => clearInterval(sampler));

  const started = Date.now();
  const call = client.ServerStream({ count: TOTAL / CHUNK, size: CHUNK }, new grpc.Metadata());
  let bytes = 0;
  let messages = 0;
  call.on('data', (reply: EchoReply) => {
    bytes += reply.payload.length;
    // A client that stalls: only backpressure through every hop keeps the upstream from filling the gateway's memory.
    if (messages++ === 0) {
      call.pause();
      setTimeout(() => call.resume(), 2_000);
    }
  });
  const status = await new Promise<grpc.StatusObject>((resolve) => {
    call.on('error', () => undefined);
    call.on('status', resolve);
  });
  clearInterval(sampler);
  const seconds = (Date.now() - started) / 1000;

  t.equal(status.code, grpc.status.OK);
  t.equal(messages, TOTAL / CHUNK);
  t.equal(bytes, TOTAL, 'every byte arrived');
  const growth = (peak - baseline) / MiB;
  // This process holds the client, the gateway and the upstream: their garbage alone grows RSS by 65-95 MiB
  // here. Without backpressure the gateway would take in all 200 MiB during the client's stall.
  t.ok(growth < 150, `RSS grew ${growth.toFixed(0)} MiB while streaming 200 MiB (${(200 / seconds).toFixed(0)} MB/s)`);
});
