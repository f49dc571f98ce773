import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/cli';
import { writeConfig, type GatewayOptions } from '../helpers/gateway';

t.test('config check on Sentinel and Cluster stores: only what is known without connecting', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-redis-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, store: Record<string, unknown>): string => {
    const sub = join(dir, name);
    const deployments = [{ name: 'one', access: 'public' as const, upstreams: ['http://127.0.0.1:1'] }];
    return writeConfig({ dir: mkdtempSync(`${sub}-`), deployments, store: store as GatewayOptions['store'] }).file;
  };
  // Port 1 on loopback: nothing answers there, and check must not care.
  const unreachable = write('unreachable', { driver: 'redis', sentinels: ['127.0.0.1:1'], name: 'nosuch' });
  const both = write('both', { driver: 'redis', url: 'redis://127.0.0.1:1/0', cluster: ['127.0.0.1:1'] });
  const nameless = write('nameless', { driver: 'redis', sentinels: ['127.0.0.1:1'] });
  const badAddress = write('address', { driver: 'redis', cluster: ['127.0.0.1:7000', 'redis-0'] });
  const [ok, twice, noName, address] = await Promise.all([unreachable, both, nameless, badAddress].map((file) => runCli(['config', 'check', '--config', file], {})));
  t.equal(ok?.code, 0, `unreachable sentinels and an unknown name pass: ${ok?.stderr}`);
  t.equal(twice?.code, 1);
  t.match(twice?.stderr, /store\.cluster: cannot be used with store\.url/);
  t.equal(noName?.code, 1);
  t.match(noName?.stderr, /store\.name: is required with store\.sentinels/);
  t.equal(address?.code, 1);
  t.match(address?.stderr, /store\.cluster\[1\]: must be host:port \(got "redis-0"\)/);
});
