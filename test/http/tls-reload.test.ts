import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { hostOf, spawnGateway, startGateway, writeConfig } from '../helpers/gateway';
import { within } from '../helpers/ops';
import { startUpstream } from '../helpers/upstream';

// Certificates are made here with openssl, one serial each, so a connection shows which pair served it.
const work = mkdtempSync(join(tmpdir(), 'gatehouse-tls-reload-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

interface Pair { readonly cert: string; readonly key: string; readonly serial: number }

function makePair(serial: number): Pair {
  const base = join(work, `pair-${serial}`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', `subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:*.acme.gw.test`,
    '-set_serial', String(serial), '-keyout', `${base}.key`, '-out', `${base}.crt`,
  ], { stdio: 'pipe' });
  return { cert: readFileSync(`${base}.crt`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8'), serial };
}

const [A, B, C, D] = [0x1a01, 0x1b02, 0x1c03, 0x1d04].map(makePair);

/** The serial of the certificate a new TLS connection gets, and the protocol ALPN chose. */
function served(port: number, alpn = ['http/1.1']): Promise<{ serial: number; protocol: string | false | null }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: alpn }, () => {
      const serial = parseInt(socket.getPeerCertificate().serialNumber, 16);
      const protocol = socket.alpnProtocol;
      socket.end();
      resolve({ serial, protocol });
    });
    socket.once('error', reject);
  });
}

async function servedSerial(port: number): Promise<number> {
  return (await served(port)).serial;
}

/** A request on a kept-alive connection: its status, whether the socket was reused, and that socket's serial. */
function onAgent(agent: https.Agent, port: number, host: string): Promise<{ status: number; reused: boolean; serial: number }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ agent, host: '127.0.0.1', port, path: '/x', servername: 'localhost', rejectUnauthorized: false, headers: { host } }, (res) => {
      const serial = parseInt((res.socket as tls.TLSSocket).getPeerCertificate().serialNumber, 16);
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, serial }));
    });
    req.on('error', reject);
  });
}

/** A folder laid out as a Kubernetes Secret volume: tls.crt -> ..data/tls.crt, ..data -> ..<generation>. */
class SecretVolume {
  private generation = 0;
  constructor(readonly dir: string) {
    mkdirSync(dir);
  }

  get cert(): string { return join(this.dir, 'tls.crt'); }
  get key(): string { return join(this.dir, 'tls.key'); }

  /** Publishes new contents the way the kubelet does: a new folder, then one atomic rename of the ..data link. */
  publish(cert: string, key: string): void {
    const generation = `..gen_${++this.generation}`;
    mkdirSync(join(this.dir, generation));
    writeFileSync(join(this.dir, generation, 'tls.crt'), cert);
    writeFileSync(join(this.dir, generation, 'tls.key'), key);
    symlinkSync(generation, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.generation === 1) {
      symlinkSync(join('..data', 'tls.crt'), this.cert);
      symlinkSync(join('..data', 'tls.key'), this.key);
    }
  }
}

const tlsListener = (cert: string, key: string, adminTls = false) => ({
  listeners: {
    external: [{ address: '127.0.0.1:0', tls: { cert, key } }],
    internal: [{ address: '127.0.0.1:0' }],
    admin: [{ address: '127.0.0.1:0', ...(adminTls ? { tls: { cert, key } } : {}) }],
  },
});

t.test('a Secret volume update reaches new connections within seconds; open ones keep working; a bad pair is refused', async (t) => {
  const volume = new SecretVolume(join(work, 'secret'));
  volume.publish(A.cert, A.key);
  const upstream = await startUpstream(t);
  // The admin listener serves the same pair: every TLS listener is reloaded, not only the first.
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', upstreams: [upstream.url] }], extra: tlsListener(volume.cert, volume.key, true) });
  const port = gw.externalPort;
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());

  t.equal(await servedSerial(port), A.serial, 'the first pair is served');
  t.same(await onAgent(agent, port, hostOf('open')), { status: 200, reused: false, serial: A.serial }, 'a kept-alive connection on it');

  const changed = Date.now();
  volume.publish(B.cert, B.key);
  const after = await within(5_000, async () => (await servedSerial(port)) === B.serial, changed, 50);
  t.ok(after !== null, 'new connections get the new certificate within 5 s of the change');
  t.comment(`watch: the new certificate served ${String(after)} ms after the ..data swap`);
  t.equal(await servedSerial(gw.adminPort), B.serial, 'the admin listener serves the new pair too');
  t.same(await onAgent(agent, port, hostOf('open')), { status: 200, reused: true, serial: A.serial }, 'the connection opened before keeps working on its pair');
  t.same(await served(port, ['h2', 'http/1.1']), { serial: B.serial, protocol: 'h2' }, 'ALPN still offers h2 with the new pair');
  t.ok(gw.logs.some((l) => l.msg === 'TLS certificate reloaded' && l.serial === B.serial.toString(16).toUpperCase()), 'the reload is logged with the serial');

  const refusal = async (path: string): Promise<Record<string, unknown> | undefined> => {
    await within(5_000, async () => gw.logs.some((l) => l.msg === 'TLS certificate reload refused; keeping the running certificate' && l.path === path));
    return gw.logs.find((l) => l.path === path);
  };
  volume.publish('not a certificate\n', B.key);
  t.match(await refusal('listeners.external[0].tls.cert'), { level: 50, err: /tls\.crt is not a PEM certificate/ }, 'garbage in place of the certificate: refused, logged with the key path');
  t.equal(await servedSerial(port), B.serial, 'and the running pair kept');

  volume.publish(C.cert, B.key);
  t.match(await refusal('listeners.external[0].tls.key'), { level: 50, err: /tls\.key does not match the certificate/ }, 'a key of another certificate: refused, naming the key');
  t.equal(await servedSerial(port), B.serial, 'the running pair kept');

  volume.publish(D.cert, D.key);
  t.not(await within(5_000, async () => (await servedSerial(port)) === D.serial, Date.now(), 50), null, 'a good pair after bad ones is taken');
  t.equal(await servedSerial(gw.adminPort), D.serial, 'on the admin listener too');
});

t.test('SIGHUP re-reads the certificate at once, even when no watched folder changed', async (t) => {
  // The configured files are links into another folder: writing there is invisible to the
  // watch on the configured folder, so only SIGHUP can make the gateway see the new pair.
  const linked = join(work, 'linked');
  const store = join(work, 'store');
  mkdirSync(linked);
  mkdirSync(store);
  writeFileSync(join(store, 'cert.pem'), A.cert);
  writeFileSync(join(store, 'key.pem'), A.key);
  symlinkSync(join(store, 'cert.pem'), join(linked, 'tls.crt'));
  symlinkSync(join(store, 'key.pem'), join(linked, 'tls.key'));
  const upstream = await startUpstream(t);
  const { file } = writeConfig({ deployments: [{ name: 'open', access: 'public', upstreams: [upstream.url] }], extra: tlsListener(join(linked, 'tls.crt'), join(linked, 'tls.key')) });
  const gw = await spawnGateway(t, file);
  const port = gw.ports.external;
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  t.same(await onAgent(agent, port, hostOf('open')), { status: 200, reused: false, serial: A.serial }, 'a kept-alive connection on the first pair');

  const replace = (name: string, text: string): void => {
    writeFileSync(join(store, `${name}.new`), text);
    renameSync(join(store, `${name}.new`), join(store, name));
  };
  replace('key.pem', B.key);
  replace('cert.pem', B.cert);
  await new Promise((r) => setTimeout(r, 1_000));
  t.equal(await servedSerial(port), A.serial, 'without SIGHUP the unwatched change is not seen');

  const signalled = Date.now();
  gw.child.kill('SIGHUP');
  const after = await within(3_000, async () => (await servedSerial(port)) === B.serial, signalled, 20);
  t.ok(after !== null, 'new connections get the new certificate within 3 s of SIGHUP (SPEC §8)');
  t.comment(`SIGHUP: the new certificate served ${String(after)} ms after the signal`);
  t.same(await onAgent(agent, port, hostOf('open')), { status: 200, reused: true, serial: A.serial }, 'the open connection keeps working');

  replace('cert.pem', 'garbage\n');
  const before = gw.output().length;
  gw.child.kill('SIGHUP');
  const refused = await within(5_000, async () => gw.output().slice(before).includes('TLS certificate reload refused'));
  t.ok(refused !== null, 'a bad pair on SIGHUP is refused');
  t.match(gw.output().slice(before), /"path":"listeners\.external\[0\]\.tls\.cert"/, 'logged with the key path');
  t.equal(await servedSerial(port), B.serial, 'the running pair is kept');
  t.equal(gw.child.exitCode, null, 'and the process keeps running');
  t.equal(await gw.signal('SIGTERM'), 0);
});
