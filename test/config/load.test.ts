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
