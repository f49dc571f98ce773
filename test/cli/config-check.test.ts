import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/cli';
import { FIXTURES, writeConfig } from '../helpers/gateway';

const ROOT = resolve(__dirname, '..', '..');

t.test('gatehouse --version prints "gatehouse <semver>" from package.json', async (t) => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const result = await runCli(['--version'], {});
  t.equal(result.code, 0);
  t.equal(result.stdout, `gatehouse ${version}\n`);
  t.match(version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'a semver');
});

t.test('gatehouse config check', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { file: good } = writeConfig({ dir, deployments: [{ name: 'one', access: 'public', upstreams: ['http://127.0.0.1:1'] }] });
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, readFileSync(good, 'utf8').replace('access: public', 'access: sideways'));
  const unset = join(dir, 'unset.yaml');
  writeFileSync(unset, readFileSync(good, 'utf8').replace('pepper: test-pepper', 'pepper: ${GATEHOUSE_CHECK_PEPPER}'));
  const missing = join(dir, 'nowhere.yaml');
  // A TLS listener whose key belongs to another certificate: serve would refuse it, so check does too.
  copyFileSync(join(FIXTURES, 'tls', 'server.crt'), join(dir, 'tls.crt'));
  copyFileSync(join(FIXTURES, 'tls', 'ca.key'), join(dir, 'tls.key'));
  const mismatched = join(dir, 'mismatched.yaml');
  writeFileSync(mismatched, readFileSync(good, 'utf8').replace("address: 127.0.0.1:0\n", 'address: 127.0.0.1:0\n      tls: {cert: tls.crt, key: tls.key}\n'));

  const [ok, bad, noEnv, withEnv, absent, pair, skipped, usage] = await Promise.all([
    runCli(['config', 'check', '--config', good], {}),
    runCli(['config', 'check', '--config', broken], {}),
    runCli(['config', 'check', '--config', unset], {}),
    runCli(['config', 'check', '--config', unset], { GATEHOUSE_CHECK_PEPPER: 'from-the-environment' }),
    runCli(['config', 'check', '--config', missing], {}),
    runCli(['config', 'check', '--config', mismatched], {}),
    runCli(['config', 'check', '--config', mismatched, '--skip-tls-files'], {}),
    runCli(['config', 'check', '--bogus'], {}),
  ]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, `${good} is valid`, 'a valid file: exit 0, named');
  t.equal(bad.code, 1, 'a bad value: exit 1');
  t.match(bad.stderr, /deployments\[0\]\.access: must be one of private, protected, public/, 'naming the key path');
  t.equal(bad.stdout, '', 'and nothing on stdout');
  t.equal(noEnv.code, 1, 'an unset environment variable: exit 1');
  t.match(noEnv.stderr, /tokens\.pepper: environment variable GATEHOUSE_CHECK_PEPPER is not set/);
  t.equal(withEnv.code, 0, 'the same file with the variable set passes');
  t.equal(absent.code, 1, 'a missing file: exit 1');
  t.match(absent.stderr, `cannot read config file ${missing}`, 'saying which path it read');
  t.match(absent.stderr, /--config FILE names another file/, 'and how to name another');
  t.equal(pair.code, 1, 'a key that does not match its certificate: exit 1');
  t.match(pair.stderr, /listeners\.external\[0\]\.tls\.key: .*tls\.key does not match the certificate/);
  t.equal(skipped.code, 0, '--skip-tls-files leaves the files unread');
  t.equal(usage.code, 2, 'an unknown flag is a usage error');
});
