import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError } from '../../gateway/config/env';
import { loadConfig } from '../../gateway/config/load';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-load-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

t.test('YAML files: expansion happens in values, after parsing', async (t) => {
  const path = file('ok.yaml', [
    'organization: acme',
    'domain: ${DOMAIN:-example.com}',
    'store: {driver: embedded, path: "${DB:-data/x.db}"}',
    'tokens:',
    '  pepper: ${PEPPER}',
    'deployments:',
    '  - name: a',
    '    access: ${ACCESS:-public}',
    '    upstreams: ["http://127.0.0.1:${PORT:-3000}"]',
    '',
  ].join('\n'));
  const config = loadConfig(path, { PEPPER: 'a: b # not yaml', PORT: '4000' });
  t.equal(config.tokens.pepper, 'a: b # not yaml', 'a value with YAML syntax stays a plain string');
  t.equal(config.domain, 'example.com');
  t.equal(config.store.driver === 'embedded' && config.store.path, join(dir, 'data', 'x.db'), 'relative to the file');
  t.same(config.deployments[0]!.upstreams, ['http://127.0.0.1:4000']);
  t.equal(config.source, path);
});

t.test('file-level problems are ConfigErrors too', async (t) => {
  t.throws(() => loadConfig(join(dir, 'missing.yaml')), { name: 'ConfigError', message: /cannot read config file .*missing\.yaml: ENOENT/ });
  t.throws(() => loadConfig(file('bad.yaml', 'organization: [unclosed\n')), { name: 'ConfigError', message: /is not valid YAML/ });
  t.throws(() => loadConfig(file('dup.yaml', 'organization: a\norganization: b\n')), { name: 'ConfigError', message: /is not valid YAML/ }, 'duplicate keys');
  t.throws(() => loadConfig(file('list.yaml', '- a\n- b\n')), ConfigError, 'a list is not a config');
  t.throws(() => loadConfig(file('empty.yaml', '')), { message: 'organization: is required' }, 'an empty file');
});

t.test('numbers are read as written, so a number-like pepper or name keeps every digit', async (t) => {
  const path = file('numbers.yaml', [
    'organization: acme',
    'domain: example.com',
    'tokens: {pepper: 12345678901234567890}',
    'cache: {maxEntries: 2500}',
    'failedAuth: {perMinute: 0x10}',
    'deployments:',
    '  - {name: 007, access: public, upstreams: ["http://127.0.0.1:3000"], forwardAuthorization: true}',
    '  - {name: 1e3, access: public, upstreams: ["http://127.0.0.1:3000"]}',
    '',
  ].join('\n'));
  const config = loadConfig(path, {});
  // Before: 12345678901234567000, "7" and "1000": another pepper than GATEHOUSE_PEPPER=12345678901234567890 gives.
  t.equal(config.tokens.pepper, '12345678901234567890');
  t.same(config.deployments.map((d) => d.name), ['007', '1e3']);
  t.equal(config.cache.maxEntries, 2500, 'counts still read as numbers');
  t.equal(config.failedAuth.perMinute, 16);
  t.equal(config.deployments[0]!.forwardAuthorization, true, 'booleans still read as booleans');
});
