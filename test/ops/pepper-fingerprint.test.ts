import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { pepperFingerprint } from '../../gateway/auth/pepper-fingerprint';
import { ConfigError } from '../../gateway/config/env';
import { loadConfig } from '../../gateway/config/load';
import { Gateway } from '../../gateway/gateway';
import { createLogger } from '../../gateway/log';
import { runCli } from '../helpers/cli';
import { PEPPER, writeConfig } from '../helpers/gateway';
import { until } from '../helpers/grpc';
import { startRedis } from '../helpers/redis';

const deployments = [{ name: 'summarizer', access: 'protected' as const, upstreams: ['http://127.0.0.1:9'] }];

/** A copy of a config file with another pepper, beside it. */
function withPepper(file: string, pepper: string): string {
  const config = parse(readFileSync(file, 'utf8')) as { tokens: { pepper: string } };
  config.tokens.pepper = pepper;
  const other = file.replace(/\.yaml$/, '.other.yaml');
  writeFileSync(other, stringify(config));
  return other;
}

const quiet = createLogger('fatal');

t.test('embedded store: serve and the --config commands refuse another pepper, naming tokens.pepper', async (t) => {
  const { file, dir } = writeConfig({ deployments });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { GATEHOUSE_HOME: dir };
  const created = await runCli(['token', 'create', '--name', 'ops', '--developer', '--config', file], env);
  t.equal(created.code, 0, created.stderr);
  const other = withPepper(file, 'another pepper');

  const listed = await runCli(['token', 'list', '--config', other], env);
  t.equal(listed.code, 1, 'token list: exit 1');
  t.match(listed.stderr, /tokens\.pepper: does not match the pepper the embedded store .*gatehouse\.db was first used with/);
  t.match(listed.stderr, /rm -f '.*gatehouse\.db' '.*gatehouse\.db-wal' '.*gatehouse\.db-shm'/, 'names the command that starts over');
  t.equal(listed.stdout, '', 'nothing listed');
  const applied = await runCli(['deployment', 'apply', 'extra', '--access', 'public', '--upstream', 'http://127.0.0.1:9', '--config', other], env);
  t.equal(applied.code, 1, 'deployment apply: exit 1');
  t.match(applied.stderr, /tokens\.pepper/);

  const served = await runCli(['serve', '--config', other], env);
  t.equal(served.code, 1, 'serve: exit 1');
  t.match(served.stderr, /^gatehouse: tokens\.pepper: does not match/m);
  // With workers (the example configs' `auto`), the workers' refusal is the supervisor's exit.
  const supervised = await runCli(['serve', '--workers', '2', '--config', other], env);
  t.equal(supervised.code, 1, 'serve --workers 2: exit 1');
  t.match(supervised.stderr, /^gatehouse: tokens\.pepper: does not match/m);
  t.notMatch(served.stderr + supervised.stderr + listed.stderr, /another pepper/, 'the pepper itself is never printed');

  const again = await runCli(['token', 'list', '--config', file], env);
  t.equal(again.code, 0, 'the first pepper still works');
  t.match(again.stdout, /ops/);
});

t.test('redis store', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());

  t.test('a store without a fingerprint takes the first; another pepper then refuses to start', async (t) => {
    const store = { driver: 'redis' as const, url: redis.url, prefix: 'pepper1:' };
    const first = await Gateway.start(loadConfig(writeConfig({ deployments, store }).file), { logger: quiet });
    await first.stop(100);
    t.equal(await redis.command('GET', 'pepper1:token:pepper-fingerprint'), pepperFingerprint(PEPPER), 'the fingerprint is kept, not the pepper');
    const other = withPepper(writeConfig({ deployments, store }).file, 'another pepper');
    await t.rejects(Gateway.start(loadConfig(other), { logger: quiet }), { name: 'ConfigError', message: /^tokens\.pepper: does not match the pepper the Redis store \(prefix "pepper1:"\)/ });
    const same = await Gateway.start(loadConfig(writeConfig({ deployments, store }).file), { logger: quiet });
    await same.stop(100);
  });

  t.test('a store down at start is checked once it answers; a mismatch then is fatal', async (t) => {
    const store = { driver: 'redis' as const, url: redis.url, prefix: 'pepper2:' };
    await redis.stop();
    let fatal: Error | undefined;
    const gateway = await Gateway.start(loadConfig(writeConfig({ deployments, store }).file), { logger: quiet });
    void gateway.failed.then((err) => { fatal = err; });
    t.teardown(() => gateway.stop(100));
    await redis.restart();
    // Before the gateway's next try (every second), another pepper's fingerprint is already there.
    await redis.command('SET', 'pepper2:token:pepper-fingerprint', pepperFingerprint('another pepper'));
    await until(() => fatal !== undefined, 10_000);
    t.match(fatal, { constructor: ConfigError, path: 'tokens.pepper' });
  });
});
