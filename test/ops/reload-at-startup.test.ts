import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { hostOf, spawnGateway, writeConfig } from '../helpers/gateway';
import { get } from '../helpers/http';
import { within } from '../helpers/ops';
import { freePort } from '../helpers/ports';
import { startUpstream } from '../helpers/upstream';

t.test('a SIGHUP while the gateway starts neither kills it nor is lost: the reload runs once it is up', async (t) => {
  const up = await startUpstream(t);
  // A Redis store that does not answer keeps the start going for a couple of seconds: a window to signal into.
  const { file } = writeConfig({
    store: { driver: 'redis', url: `redis://127.0.0.1:${await freePort()}` },
    deployments: [{ name: 'first', access: 'public', upstreams: [up.url] }],
  });
  let signalled = false;
  const gw = await spawnGateway(t, file, {}, (child, output) => {
    if (signalled || !output.includes('token store connection failed')) return;
    signalled = true;
    const config = parse(readFileSync(file, 'utf8')) as { deployments: unknown[] };
    config.deployments.push({ name: 'second', access: 'public', upstreams: [up.url] });
    writeFileSync(file, stringify(config));
    child.kill('SIGHUP');
  });
  t.ok(signalled, 'the signal arrived while the gateway was starting');
  t.equal(gw.child.exitCode, null, 'the process is alive');
  t.equal(gw.child.signalCode, null);
  const reloaded = await within(5_000, async () => gw.output().includes('"msg":"config reloaded"'));
  t.not(reloaded, null, 'the reload ran after the start');
  const second = await get(`http://127.0.0.1:${gw.ports.external}/`, { host: hostOf('second') });
  t.equal(second.status, 200, 'the Deployment added before the signal is served');
  t.equal(await gw.signal('SIGTERM'), 0, 'and it still drains and exits 0');
});
