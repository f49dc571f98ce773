import { spawn, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import t from 'tap';
import { Pool } from 'undici';
import { hostOf, startedPorts, writeConfig } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';

// The installed entry point, which turns pretenuring off before loading anything (npm test builds dist first).
const BIN = join(resolve(__dirname, '..', '..'), 'bin', 'gatehouse.js');

// V8 prints a line for each pretenuring decision it takes; with pretenuring off it takes none.
const TRACE = ['--trace-pretenuring', '--trace-pretenuring-statistics'];
const DECISION = /pretenuring:/;

t.test('this V8 traces pretenuring decisions (so their absence below means something)', async (t) => {
  const script = 'const keep = []; const make = (i) => ({ i, list: [i] }); for (let i = 0; i < 300000; i++) keep.push(make(i));';
  const out = spawnSync(process.execPath, [...TRACE, '-e', script], { encoding: 'utf8' });
  t.equal(out.status, 0);
  t.match(out.stdout, DECISION, 'a process with pretenuring on decides');
});

t.test('gatehouse serve takes no pretenuring decision, at start or under load', async (t) => {
  const up = await startUpstream(t, (_req, res) => res.end('ok'));
  const { file } = writeConfig({ deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }] });
  const child = spawn(process.execPath, [...TRACE, BIN, 'serve', '--config', file]);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => { child.kill('SIGKILL'); });
  let out = '';
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${out}`)), 45_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const ports = startedPorts(out);
      if (ports === undefined) return;
      clearTimeout(timer);
      resolve(ports.external);
    });
  });

  // Enough requests, 32 at a time, for many young-generation collections while requests are in flight.
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 32 });
  t.teardown(() => pool.close());
  let ok = 0;
  const worker = async (): Promise<void> => {
    for (let i = 0; i < 250; i++) {
      const res = await pool.request({ path: '/', method: 'GET', headers: { host: hostOf('open') } });
      await res.body.text();
      if (res.statusCode === 200) ok++;
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  t.equal(ok, 32 * 250, 'every request served');

  child.kill('SIGTERM');
  t.equal(await exited, 0);
  const decisions = out.split('\n').filter((l) => DECISION.test(l));
  t.same(decisions, [], 'no pretenuring decision traced');
});
