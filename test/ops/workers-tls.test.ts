import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

t.test('two workers, certificate files replaced and SIGHUP sent: both workers serve the new pair within 3 s', async (t) => {
  const [oldPair, newPair] = [makePair(0x2a01), makePair(0x2b02)];
  const dir = mkdtempSync(join(work, 'config-'));
  // The configured files are links into another folder: a change there is invisible to the
  // folder watch, so only the SIGHUP the supervisor passes on can make the workers see it.
  // (Not beside the config: the embedded store's writes there would wake the watch.)
  const store = mkdtempSync(join(work, 'store-'));
  const linked = mkdtempSync(join(work, 'linked-'));
  const cert = join(linked, 'tls.crt');
  const key = join(linked, 'tls.key');
  copyFileSync(oldPair.cert, join(store, 'cert.pem'));
  copyFileSync(oldPair.key, join(store, 'key.pem'));
  symlinkSync(join(store, 'cert.pem'), cert);
  symlinkSync(join(store, 'key.pem'), key);
  const up = await startUpstream(t);
  const { file } = writeConfig({ dir, deployments: [{ name: 'svc', access: 'public', upstreams: [up.url] }], extra: { workers: 2 } });
  // writeConfig's listeners without TLS, then the external one on the linked pair.
  const config = parse(readFileSync(file, 'utf8')) as { listeners: { external: Record<string, unknown>[] } };
  config.listeners.external = [{ address: '127.0.0.1:0', tls: { cert, key } }];
  writeFileSync(file, stringify(config));
  const gw = await spawnGateway(t, file);
  t.equal((await fresh(gw.ports.external)).serial, 0x2a01, 'the first pair before');

  const replace = (from: string, name: string): void => {
    copyFileSync(from, join(store, `${name}.new`));
    renameSync(join(store, `${name}.new`), join(store, name));
  };
  replace(newPair.key, 'key.pem');
  replace(newPair.cert, 'cert.pem');
  await new Promise((r) => setTimeout(r, 1_000));
  t.equal((await fresh(gw.ports.external)).serial, 0x2a01, 'without SIGHUP the unwatched change is not seen');

  const signalled = Date.now();
  gw.child.kill('SIGHUP');
  const renewed = new Set<number>();
  const deadline = signalled + 10_000;
  const answers: { serial: number; requestId: string; at: number }[] = [];
  // Asked past 3 s as well: by then no worker may hand out the old pair (SPEC §8).
  while ((renewed.size < 2 || Date.now() - signalled < 3_500) && Date.now() < deadline) {
    answers.push(...await Promise.all([1, 2, 3, 4].map(async () => ({ ...await fresh(gw.ports.external), at: Date.now() - signalled }))));
    await new Promise((r) => setTimeout(r, 200));
    for (const a of answers) {
      const worker = workerOf(gw, a.requestId);
      if (worker !== undefined && a.serial === 0x2b02) renewed.add(worker);
    }
  }
  t.same([...renewed].sort(), [1, 2], 'worker 1 and worker 2 hand out the new pair');
  const late = answers.filter((a) => a.at > 3_000);
  t.ok(late.length > 0, 'connections were made more than 3 s after SIGHUP');
  t.same(late.filter((a) => a.serial !== 0x2b02), [], 'none of them got the old pair');
  const lastOld = Math.max(...answers.filter((a) => a.serial === 0x2a01).map((a) => a.at), 0);
  t.comment(`the last connection on the old pair: ${lastOld} ms after SIGHUP (0: none after it)`);
});
