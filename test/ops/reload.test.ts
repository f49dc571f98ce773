import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { hostOf, spawnGateway, writeConfig } from '../helpers/gateway';
import { get } from '../helpers/http';
import { within } from '../helpers/ops';
import { startUpstream, type UpstreamHandler } from '../helpers/upstream';

/** Answers which upstream it is; `/slow` answers after a while. */
function named(name: string): UpstreamHandler {
  return (req, res) => {
    const reply = (): void => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${name}${req.url === '/slow' ? ' slow' : ''}`);
    };
    if (req.url === '/slow') setTimeout(reply, 1_500);
    else reply();
  };
}

/** A request on a given keep-alive agent; resolves with status, body and whether the socket was reused. */
function viaAgent(agent: http.Agent, port: number, host: string, path = '/x'): Promise<{ status: number; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ agent, host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket }));
    });
    req.on('error', reject);
  });
}

t.test('SIGHUP: Deployments and upstreams change without dropping requests or connections; a broken config is refused', async (t) => {
  const one = await startUpstream(t, named('one'));
  const two = await startUpstream(t, named('two'));
  const { file, dir } = writeConfig({ deployments: [{ name: 'first', access: 'public', upstreams: [one.url] }] });
  const gw = await spawnGateway(t, file);
  const port = gw.ports.external;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());

  t.same(await viaAgent(agent, port, hostOf('first')), { status: 200, body: 'one', reused: false });
  t.equal((await get(`http://127.0.0.1:${port}/x`, { host: hostOf('second') })).status, 404, 'second is not there yet');
  const slow = get(`http://127.0.0.1:${port}/slow`, { host: hostOf('first') });
  await within(3_000, async () => one.requests.some((r) => r.url === '/slow'));

  writeConfig({
    dir,
    deployments: [
      { name: 'first', access: 'public', upstreams: [two.url] },
      { name: 'second', access: 'public', upstreams: [one.url] },
    ],
  });
  gw.child.kill('SIGHUP');
  const added = await within(5_000, async () => (await get(`http://127.0.0.1:${port}/x`, { host: hostOf('second') })).status === 200);
  t.ok(added !== null, `the Deployment added to the config is served after SIGHUP (${String(added)} ms)`);
  t.not(await within(3_000, async () => gw.output().includes('"msg":"config reloaded"')), null, 'the reload is logged');

  const inFlight = await slow;
  t.equal(inFlight.status, 200, 'the request in flight during the reload finished');
  t.equal(inFlight.text, 'one slow', 'on the upstream it started on');
  const again = await viaAgent(agent, port, hostOf('first'));
  t.same(again, { status: 200, body: 'two', reused: true }, 'the open connection was kept, and the new upstream is used');

  const broken = parse(readFileSync(file, 'utf8')) as { deployments: { access: string }[] };
  broken.deployments[1].access = 'sideways';
  writeFileSync(file, stringify(broken));
  const before = gw.output().length;
  gw.child.kill('SIGHUP');
  const refused = await within(5_000, async () => gw.output().slice(before).includes('config reload refused'));
  t.ok(refused !== null, 'the broken config is refused');
  const line = gw.output().slice(before).split('\n').find((l) => l.includes('config reload refused')) ?? '';
  t.match(line, /deployments\[1\]\.access: must be one of private, protected, public/, 'the log line names the key path');
  t.match(JSON.parse(line), { level: 50 }, 'logged as an error');
  t.same(await viaAgent(agent, port, hostOf('first')), { status: 200, body: 'two', reused: true }, 'the running config is kept');
  t.equal((await get(`http://127.0.0.1:${port}/x`, { host: hostOf('second') })).status, 200, 'with every Deployment');
  t.equal(gw.child.exitCode, null, 'and the process keeps running');
});
