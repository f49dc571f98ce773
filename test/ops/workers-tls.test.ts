import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type tls from 'node:tls';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { hostOf, spawnGateway, writeConfig } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';
import { workerOf } from '../helpers/workers';

const work = mkdtempSync(join(tmpdir(), 'gatehouse-workers-tls-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** A self-signed pair with its own serial, so a connection shows which pair served it. */
function makePair(serial: number): { cert: string; key: string } {
  const base = join(work, `pair-${serial}`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-set_serial', String(serial), '-keyout', `${base}.key`, '-out', `${base}.crt`,
  ], { stdio: 'pipe' });
  return { cert: `${base}.crt`, key: `${base}.key` };
}

/** One request on a fresh TLS connection: the certificate serial it got, and its request id. */
function fresh(port: number): Promise<{ serial: number; requestId: string }> {
  const requestId = randomUUID();
  return new Promise((resolve, reject) => {
    const req = https.get({ agent: false, host: '127.0.0.1', port, path: '/x', servername: 'localhost', rejectUnauthorized: false,
      headers: { host: hostOf('svc'), 'x-request-id': requestId } }, (res) => {
      const serial = parseInt((res.socket as tls.TLSSocket).getPeerCertificate().serialNumber, 16);
      res.resume();
      res.on('end', () => resolve({ serial, requestId }));
    });
    req.on('error', reject);
  });
}

t.test('two workers, certificate files replaced and SIGHUP sent: both workers serve the new pair', async (t) => {
  const [oldPair, newPair] = [makePair(0x2a01), makePair(0x2b02)];
  const dir = mkdtempSync(join(work, 'config-'));
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  copyFileSync(oldPair.cert, cert);
  copyFileSync(oldPair.key, key);
  const up = await startUpstream(t);
  const { file } = writeConfig({ dir, deployments: [{ name: 'svc', access: 'public', upstreams: [up.url] }], extra: { workers: 2 } });
  // writeConfig's listeners without TLS, then the external one on this folder's pair.
  const config = parse(readFileSync(file, 'utf8')) as { listeners: { external: Record<string, unknown>[] } };
  config.listeners.external = [{ address: '127.0.0.1:0', tls: { cert, key } }];
  writeFileSync(file, stringify(config));
  const gw = await spawnGateway(t, file);
  t.equal((await fresh(gw.ports.external)).serial, 0x2a01, 'the first pair before');

  copyFileSync(newPair.key, key);
  copyFileSync(newPair.cert, cert);
  gw.child.kill('SIGHUP');
  const renewed = new Set<number>();
  const deadline = Date.now() + 10_000;
  const answers: { serial: number; requestId: string }[] = [];
  while (renewed.size < 2 && Date.now() < deadline) {
    answers.push(...await Promise.all([1, 2, 3, 4].map(() => fresh(gw.ports.external))));
    await new Promise((r) => setTimeout(r, 200));
    for (const a of answers) {
      const worker = workerOf(gw, a.requestId);
      if (worker !== undefined && a.serial === 0x2b02) renewed.add(worker);
    }
  }
  t.same([...renewed].sort(), [1, 2], 'worker 1 and worker 2 hand out the new pair');
});
