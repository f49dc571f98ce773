import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { serve } from '../../gateway/cli/serve';
import { ConfigError } from '../../gateway/config/env';
import { loadConfig } from '../../gateway/config/load';
import { checkTlsFiles } from '../../gateway/config/tls-files';
import { FIXTURES } from '../helpers/gateway';
import { freePort, listenOn } from '../helpers/ports';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-files-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const TLS = join(FIXTURES, 'tls');
copyFileSync(join(TLS, 'server.crt'), join(dir, 'server.crt'));
copyFileSync(join(TLS, 'server.key'), join(dir, 'server.key'));
copyFileSync(join(TLS, 'ca.key'), join(dir, 'other.key'));
writeFileSync(join(dir, 'garbage.pem'), 'not PEM\n');

let files = 0;
function configFile(ports: number[], tls: { cert: string; key: string }): string {
  const file = join(dir, `config-${++files}.yaml`);
  writeFileSync(file, stringify({
    organization: 'acme',
    domain: 'gw.test',
    listeners: {
      external: [{ address: `127.0.0.1:${ports[0]}` }],
      internal: [{ address: `127.0.0.1:${ports[1]}` }, { address: `127.0.0.1:${ports[2]}`, tls }],
      admin: [{ address: `127.0.0.1:${ports[3]}` }],
    },
    store: { driver: 'embedded', path: join(dir, 'store.db') },
    tokens: { pepper: 'p' },
  }));
  return file;
}

t.test('each bad certificate or key is named by its key path', async (t) => {
  const cases: Array<[string, { cert: string; key: string }, RegExp]> = [
    ['a missing key', { cert: 'server.crt', key: 'missing.key' }, /^listeners\.internal\[1\]\.tls\.key: cannot read .*missing\.key: ENOENT$/],
    ['a missing certificate', { cert: 'missing.crt', key: 'server.key' }, /^listeners\.internal\[1\]\.tls\.cert: cannot read .*missing\.crt: ENOENT$/],
    ['a key that is a folder', { cert: 'server.crt', key: '.' }, /^listeners\.internal\[1\]\.tls\.key: cannot read .*: EISDIR$/],
    ['a certificate that is not PEM', { cert: 'garbage.pem', key: 'server.key' }, /^listeners\.internal\[1\]\.tls\.cert: .*garbage\.pem is not a PEM certificate/],
    ['a certificate given as the key', { cert: 'server.crt', key: 'server.crt' }, /^listeners\.internal\[1\]\.tls\.key: .*server\.crt is not a PEM private key/],
    ['a key of another certificate', { cert: 'server.crt', key: 'other.key' }, /^listeners\.internal\[1\]\.tls\.key: .*other\.key does not match the certificate .*server\.crt/],
  ];
  for (const [what, tls, message] of cases) {
    const config = loadConfig(configFile([1, 2, 3, 4], tls), {});
    t.throws(() => checkTlsFiles(config), { constructor: ConfigError, message }, what);
  }
  t.doesNotThrow(() => checkTlsFiles(loadConfig(configFile([1, 2, 3, 4], { cert: 'server.crt', key: 'server.key' }), {})), 'a fitting pair');
});

t.test('serve refuses a bad key before it binds any port', async (t) => {
  const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
  const file = configFile(ports, { cert: 'server.crt', key: 'other.key' });
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => { stderr += String(chunk); return true; }) as typeof process.stderr.write;
  let code: number;
  try {
    code = await serve(['--config', file]);
  } finally {
    process.stderr.write = write;
  }
  // Before: a bare "key values mismatch" from OpenSSL (and a missing key only as "ENOENT ... open '<file>'"), no key path.
  t.equal(code, 1);
  t.match(stderr, new RegExp(`^gatehouse: invalid config ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: listeners\\.internal\\[1\\]\\.tls\\.key: .*does not match`));
  for (const port of ports) {
    const probe = await listenOn(port);
    await new Promise((r) => probe.close(r));
    t.pass(`port ${port} is free`);
  }
});
