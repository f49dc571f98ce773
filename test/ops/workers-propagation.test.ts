import t from 'tap';
import { hostOf, spawnGateway, writeConfig, type GatewayProcess, type GatewayOptions } from '../helpers/gateway';
import { adminCall, mintInStore } from '../helpers/ops';
import { startRedis } from '../helpers/redis';
import { startUpstream } from '../helpers/upstream';
import { logged, reachEveryWorker, tagged, type Answered } from '../helpers/workers';

/** SPEC §4: a revocation reaches every worker of every process sharing the store within one second. */
const PROPAGATION_MS = 1_000;
/** How long after the revocation the workers are watched. */
const WATCH_MS = 1_800;

type Tap = Pick<typeof t, 'same' | 'ok' | 'equal' | 'teardown'>;

/** Two hosts (two `serve` processes on one store) with two workers each; a token revoked through one of A's workers. */
async function twoHostsTwoWorkers(t: Tap, store: GatewayOptions['store']): Promise<void> {
  const up = await startUpstream(t);
  const { file } = writeConfig({ store, deployments: [{ name: 'guarded', access: 'protected', upstreams: [up.url] }], extra: { workers: 2 } });
  const hosts: [string, GatewayProcess][] = [['A', await spawnGateway(t, file)], ['B', await spawnGateway(t, file)]];
  const [dev, user] = await mintInStore(file, [{ developer: true }, { user: ['guarded'] }]);
  const url = (gw: GatewayProcess): string => `http://127.0.0.1:${gw.ports.external}/x`;
  const headers = { host: hostOf('guarded'), authorization: `Bearer ${user.secret}` };

  for (const [name, gw] of hosts) {
    const warm = await reachEveryWorker(gw, 2, url(gw), headers, 200);
    t.same([...warm].sort(), [1, 2], `host ${name}: both workers accepted (and cached) the token before`);
  }
  const res = await adminCall(`http://127.0.0.1:${hosts[0][1].ports.admin}`, dev.secret, 'DELETE', `/v1/tokens/${user.token.id}`);
  const since = Date.now();
  t.equal(res.status, 204, 'revoked through host A');

  const seen = new Map<GatewayProcess, Answered[]>(hosts.map(([, gw]) => [gw, []]));
  while (Date.now() - since < WATCH_MS) {
    await Promise.all(hosts.map(async ([, gw]) => {
      seen.get(gw)?.push(...await Promise.all(Array.from({ length: 4 }, () => tagged(url(gw), headers))));
    }));
  }
  for (const [name, gw] of hosts) {
    const answers = seen.get(gw) ?? [];
    const workers = await logged(gw, answers);
    for (const worker of [1, 2]) {
      const mine = answers.filter((a) => workers.get(a.requestId) === worker);
      const lastAccepted = Math.max(-1, ...mine.filter((a) => a.reply.status === 200).map((a) => a.at - since));
      t.ok(mine.some((a) => a.reply.status === 401), `host ${name} worker ${worker}: refuses the token`);
      const when = lastAccepted < 0 ? 'none accepted after the revocation' : `last accepted ${lastAccepted} ms after the revocation`;
      t.ok(lastAccepted <= PROPAGATION_MS, `host ${name} worker ${worker}: ${when}`);
    }
  }
}

t.test('two hosts x two workers on a private redis-server: a revocation reaches every worker within a second', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  await twoHostsTwoWorkers(t, { driver: 'redis', url: redis.url });
});

t.test('two hosts x two workers on one embedded store: a revocation reaches every worker within a second', async (t) => {
  await twoHostsTwoWorkers(t, { driver: 'embedded' });
});
