import t from 'tap';
import { parseDuration } from '../../gateway/config/duration';
import { ConfigError } from '../../gateway/config/env';
import type { GatehouseConfig } from '../../gateway/config/schema';
import { validateConfig } from '../../gateway/config/validate';

/** A minimal valid config; each case below breaks one thing in a copy. */
function base(): Record<string, unknown> {
  return {
    organization: 'acme',
    domain: 'example.com',
    listeners: { external: [{ address: '127.0.0.1:8080' }], internal: [{ address: '127.0.0.1:8090' }], admin: [{ address: '127.0.0.1:9090' }] },
    store: { driver: 'embedded', path: 'data/g.db' },
    tokens: { pepper: 'p' },
    deployments: [
      { name: 'a', access: 'public', upstreams: ['http://127.0.0.1:3000'] },
      { name: 'b', access: 'protected', upstreams: ['http://127.0.0.1:3001'] },
      { name: 'c', access: 'private', upstreams: ['http://127.0.0.1:3002'] },
    ],
  };
}

function load(raw: unknown, env: NodeJS.ProcessEnv = {}): GatehouseConfig {
  return validateConfig(raw, '/etc/gatehouse/gatehouse.yaml', env);
}

/** A fresh base config with values set at key paths (`undefined` removes the key). */
function edit(changes: Record<string, unknown>): Record<string, unknown> {
  const c = base();
  for (const [path, value] of Object.entries(changes)) {
    const keys = path.match(/[^.[\]]+/g) ?? [];
    let node = c;
    for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
    const last = keys[keys.length - 1]!;
    if (value === undefined) delete node[last];
    else node[last] = value;
  }
  return c;
}

t.test('every error names its key path', async (t) => {
  const cases: Array<[string, Record<string, unknown>, string, NodeJS.ProcessEnv?]> = [
    ['SPEC example', edit({ 'deployments[2].access': 'secret' }), 'deployments[2].access: must be one of private, protected, public'],
    ['unknown top-level key', edit({ organisation: 'x' }), 'organisation: unknown key'],
    ['unknown nested key', edit({ cache: { ttl: '1s', tll: '2s' } }), 'cache.tll: unknown key'],
    ['unknown Deployment key', edit({ 'deployments[1].acess': 'public' }), 'deployments[1].acess: unknown key'],
    ['unknown listener kind', edit({ 'listeners.public': [] }), 'listeners.public: unknown key'],
    ['unknown tls key', edit({ 'listeners.external[0].tls': { cert: 'a', key: 'b', ca: 'c' } }), 'listeners.external[0].tls.ca: unknown key'],
    ['missing organization', edit({ organization: undefined }), 'organization: is required'],
    ['bad organization', edit({ organization: 'Acme Inc' }), 'organization: must be a DNS label'],
    ['domain with a port', edit({ domain: 'example.com:8443' }), 'domain: must be a DNS name'],
    ['domain with a trailing dot', edit({ domain: 'example.com.' }), 'domain: must be a DNS name'],
    ['missing access', edit({ 'deployments[0].access': undefined }), 'deployments[0].access: is required'],
    ['missing upstreams', edit({ 'deployments[1].upstreams': undefined }), 'deployments[1].upstreams: is required'],
    ['no upstreams', edit({ 'deployments[1].upstreams': [] }), 'deployments[1].upstreams: must name at least one upstream'],
    ['bad upstream', edit({ 'deployments[1].upstreams': ['http://127.0.0.1:1', 'ftp://x'] }), 'deployments[1].upstreams[1]: must be an http:// or https:// URL'],
    ['upstream with a path', edit({ 'deployments[0].upstreams': ['http://127.0.0.1:1/v1'] }), 'deployments[0].upstreams[0]: must be an origin'],
    ['bad protocol', edit({ 'deployments[0].protocol': 'ws' }), 'deployments[0].protocol: must be one of http, grpc'],
    ['bad name', edit({ 'deployments[0].name': 'Not_A_Label' }), 'deployments[0].name: must be a DNS label'],
    ['duplicate name', edit({ 'deployments[2].name': 'a' }), 'deployments[2].name: duplicate Deployment name "a"'],
    ['bad host', edit({ 'deployments[0].hosts': ['ok.example.com', 'bad host'] }), 'deployments[0].hosts[1]: must be a host name'],
    ['a bare wildcard', edit({ 'deployments[0].hosts': ['*'] }), 'deployments[0].hosts[0]: must be a host name, or *.'],
    ['a wildcard inside a label', edit({ 'deployments[0].hosts': ['*api.example.com'] }), 'deployments[0].hosts[0]: must be a host name, or *.'],
    ['bad forwardAuthorization', edit({ 'deployments[0].forwardAuthorization': 'yes' }), 'deployments[0].forwardAuthorization: must be true or false'],
    ['bad Deployment timeout', edit({ 'deployments[1].timeouts': { response: '10 minutes' } }), 'deployments[1].timeouts.response: must be a duration'],
    ['bad listener address', edit({ 'listeners.internal[0].address': '127.0.0.1' }), 'listeners.internal[0].address: must be host:port'],
    ['port out of range', edit({ 'listeners.admin[0].address': '127.0.0.1:70000' }), 'listeners.admin[0].address: must be host:port'],
    ['listeners not a list', edit({ 'listeners.external': { address: ':1' } }), 'listeners.external: must be a list'],
    ['tls without key', edit({ 'listeners.external[0].tls': { cert: 'a.crt' } }), 'listeners.external[0].tls.key: is required'],
    ['bad driver', edit({ store: { driver: 'mysql' } }), 'store.driver: must be one of embedded, redis'],
    ['url on embedded', edit({ store: { driver: 'embedded', url: 'redis://x' } }), 'store.url: applies only to driver: redis'],
    ['path on redis', edit({ store: { driver: 'redis', path: 'x.db' } }), 'store.path: applies only to driver: embedded'],
    ['prefix on embedded', edit({ store: { driver: 'embedded', prefix: 'gh:' } }), 'store.prefix: applies only to driver: redis'],
    ['a host claimed twice', edit({ 'deployments[0].hosts': ['api.example.com'], 'deployments[2].hosts': ['API.example.com'] }),
      'deployments[2].hosts[0]: host "api.example.com" is already used by Deployment "a"'],
    ['another Deployment\'s default host', edit({ 'deployments[0].hosts': ['b.acme.example.com'] }),
      'deployments[1].name: its default host "b.acme.example.com" is already used by Deployment "a"'],
    ['bad redis url', edit({ store: { driver: 'redis', url: 'http://x' } }), 'store.url: must be a redis:// or rediss:// URL'],
    ['bad ttl', edit({ cache: { ttl: 30 } }), 'cache.ttl: must be a duration like 500ms, 30s, 5m, 1h or 30d (got "30")'],
    ['bad maxEntries', edit({ cache: { maxEntries: 0 } }), 'cache.maxEntries: must be a whole number of at least 1'],
    ['bad global timeout', edit({ timeouts: { idle: '5 min' } }), 'timeouts.idle: must be a duration'],
    ['unknown timeout', edit({ timeouts: { read: '5s' } }), 'timeouts.read: unknown key'],
    ['bad perMinute', edit({ failedAuth: { perMinute: 2.5 } }), 'failedAuth.perMinute: must be a whole number of at least 1'],
    ['bad trusted proxy', edit({ trustedProxies: ['10.0.0.0/8', 'nope'] }), 'trustedProxies[1]: must be an IP address or CIDR'],
    ['bad log level', edit({ log: { level: 'loud' } }), 'log.level: must be one of'],
    ['bad grace', edit({ shutdown: { grace: 'forever' } }), 'shutdown.grace: must be a duration'],
    // Node runs a timer past 2^31-1 ms after 1 ms, and a 0 timer at once: every gRPC call ended DEADLINE_EXCEEDED.
    ['a timeout longer than a timer holds', edit({ 'deployments[0].timeouts': { response: '30d' } }), 'deployments[0].timeouts.response: must be at most 24d (got "30d")'],
    ['a duration that overflows', edit({ cache: { ttl: '99999999999999999999d' } }), 'cache.ttl: must be at most 24d'],
    ['a zero timeout', edit({ timeouts: { response: '0s' } }), 'timeouts.response: must be longer than 0 (got "0s")'],
    ['a timeout that rounds to 0', edit({ 'deployments[1].timeouts': { connect: '0.1ms' } }), 'deployments[1].timeouts.connect: must be longer than 0'],
    ['unset variable', edit({ 'tokens.pepper': '${NO_SUCH_PEPPER}' }), 'tokens.pepper: environment variable NO_SUCH_PEPPER is not set'],
    ['variable into a bad value', edit({ 'deployments[1].access': '${ACCESS}' }), 'deployments[1].access: must be one of private, protected, public', { ACCESS: 'open' }],
    ['not a mapping', edit({ 'deployments[0]': 'a' }), 'deployments[0]: must be a mapping'],
  ];
  for (const [what, raw, message, env] of cases) {
    let err: unknown;
    try {
      load(raw, env);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof ConfigError, `${what}: refused with a ConfigError`);
    const text = err instanceof Error ? err.message : String(err);
    t.ok(text.startsWith(message), `${what}: "${text}" starts with "${message}"`);
    t.equal((err as ConfigError).path, message.slice(0, message.indexOf(':')), `${what}: path`);
  }
});

t.test('${VAR} and ${VAR:-default} are expanded in string values', async (t) => {
  const raw = edit({
    organization: '${ORG}',
    domain: '${DOMAIN:-example.org}',
    tokens: { pepper: '${PEPPER:-fallback}' },
    store: { driver: '${DRIVER:-redis}', url: 'redis://${REDIS_HOST:-127.0.0.1}:${REDIS_PORT}/0', prefix: '${EMPTY:-}' },
    cache: { ttl: '${TTL:-45s}', maxEntries: '${MAX:-10}' },
    failedAuth: { perMinute: '${PER_MINUTE}' },
    'deployments[0].upstreams': ['http://${UP:-127.0.0.1}:3000'],
    'deployments[0].forwardAuthorization': '${FORWARD:-false}',
  });
  const config = load(raw, { ORG: 'acme', REDIS_PORT: '6390', PER_MINUTE: '7', FORWARD: 'true', DOMAIN: '', MAX: '' });
  t.equal(config.organization, 'acme', '${VAR}');
  t.equal(config.tokens.pepper, 'fallback', 'unset: the default');
  t.same(config.store, { driver: 'redis', url: 'redis://127.0.0.1:6390/0', prefix: '' }, 'several in one value; an empty default');
  t.equal(config.cache.ttl, 45_000, 'in a duration');
  t.equal(config.cache.maxEntries, 10, 'set but empty: the default, as in the shell');
  t.equal(config.failedAuth.perMinute, 7, 'in a number');
  t.equal(config.deployments[0]!.forwardAuthorization, true, 'in a boolean');
  t.equal(config.domain, 'example.org');

  const once = load(edit({ 'tokens.pepper': '${A}' }), { A: '${B}', B: 'leak' });
  t.equal(once.tokens.pepper, '${B}', 'expanded once: a value is never expanded again');
  const literal = load(edit({ 'tokens.pepper': '$A and ${A' }), { A: 'x' });
  t.equal(literal.tokens.pepper, '$A and ${A', 'only the ${...} forms expand');
  const empty = load(edit({ 'tokens.pepper': '${A}' }), { A: '' });
  t.equal(empty.tokens.pepper, '', 'set but empty with no default: empty');
  // Before: the default ended at the first `}`, leaving a literal "${B}" (and a stray "}") in the value.
  const nested = load(edit({ 'tokens.pepper': '${A:-${B}}', domain: '${D:-${E:-example.${F:-net}}}' }), { B: 'from-b' });
  t.equal(nested.tokens.pepper, 'from-b', 'a default that is a reference');
  t.equal(nested.domain, 'example.net', 'defaults nested twice');
  t.throws(() => load(edit({ 'tokens.pepper': '${A:-${B}}' }), {}), { message: 'tokens.pepper: environment variable B is not set' }, 'an unset variable in a default');
  const notNested = load(edit({ 'tokens.pepper': '${A:-x}y}' }), {});
  t.equal(notNested.tokens.pepper, 'xy}', 'a } after the reference is plain text');
  const listed = load(edit({ 'deployments[0].hosts': ['${H:-h.example.com}'] }), {});
  t.same(listed.deployments[0]!.hosts, ['h.example.com'], 'in list entries');
});

t.test('durations', async (t) => {
  const cases: Array<[string, number | undefined]> = [
    ['500ms', 500], ['30s', 30_000], ['5m', 300_000], ['1h', 3_600_000], ['30d', 2_592_000_000], ['1.5s', 1_500], ['0s', 0], [' 2s ', 2_000],
    ['30', undefined], ['s', undefined], ['', undefined], ['-1s', undefined], ['1w', undefined], ['1 s', undefined], ['1S', undefined], ['1sec', undefined], ['1h30m', undefined],
  ];
  for (const [text, ms] of cases) t.equal(parseDuration(text), ms, JSON.stringify(text));
  const config = load(edit({
    cache: { ttl: '2s', negativeTtl: '250ms', staleIfError: '10m' },
    timeouts: { connect: '1s', response: '2m', idle: '1h' },
    'deployments[0].timeouts': { response: '600s' },
  }));
  t.same(config.cache, { maxEntries: 100_000, ttl: 2_000, negativeTtl: 250, staleIfError: 600_000 });
  t.same(config.timeouts, { connect: 1_000, response: 120_000, idle: 3_600_000, requestHeaders: 30_000 });
  t.same(config.deployments[0]!.timeouts, { response: 600_000 });
  const longest = load(edit({ cache: { staleIfError: '24d', negativeTtl: '0s' }, timeouts: { idle: '24d' } }));
  t.equal(longest.cache.staleIfError, 24 * 86_400_000, '24d is the longest');
  t.equal(longest.cache.negativeTtl, 0, 'a cache time may be 0 (no caching)');
});

t.test('defaults fill what is left out', async (t) => {
  const config = load({ organization: 'acme', domain: 'example.com' });
  t.same(config.cache, { maxEntries: 100_000, ttl: 30_000, negativeTtl: 5_000, staleIfError: 300_000 });
  t.same(config.timeouts, { connect: 5_000, response: 300_000, idle: 300_000, requestHeaders: 30_000 });
  t.same(config.failedAuth, { perMinute: 30 });
  t.same(config.trustedProxies, []);
  t.same(config.deployments, []);
  t.same(config.store, { driver: 'embedded', path: '/etc/gatehouse/data/gatehouse.db' }, 'relative to the config file');
  const redis = load({ organization: 'acme', domain: 'example.com', store: { driver: 'redis' } });
  t.same(redis.store, { driver: 'redis', url: 'redis://127.0.0.1:6379/0', prefix: 'gatehouse:' });
  const d = load(base()).deployments[0]!;
  t.same({ protocol: d.protocol, hosts: d.hosts, forwardAuthorization: d.forwardAuthorization, timeouts: d.timeouts },
    { protocol: 'http', hosts: [], forwardAuthorization: false, timeouts: {} });
});

t.test('the result is deeply frozen and the input is left alone', async (t) => {
  const raw = edit({
    'listeners.external[0].tls': { cert: 'a.crt', key: 'a.key' },
    'deployments[0].hosts': ['extra.example.com'],
    trustedProxies: ['10.0.0.0/8'],
  });
  const before = JSON.stringify(raw);
  const config = load(raw);
  t.equal(JSON.stringify(raw), before, 'the caller\'s object is not changed');
  t.notOk(Object.isFrozen(raw), 'nor frozen');
  const unfrozen: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (typeof value !== 'object' || value === null) return;
    if (!Object.isFrozen(value)) unfrozen.push(path || '(root)');
    for (const [k, v] of Object.entries(value)) walk(v, Array.isArray(value) ? `${path}[${k}]` : `${path}.${k}`);
  };
  walk(config, '');
  t.same(unfrozen, [], 'every object and array is frozen');
  t.throws(() => { (config as { organization: string }).organization = 'x'; }, TypeError, 'writes throw');
  t.throws(() => { (config.deployments as unknown as unknown[]).push({}); }, TypeError, 'lists cannot grow');
  t.throws(() => { (config.listeners.external[0]!.tls as { certFile: string }).certFile = 'x'; }, TypeError, 'nested');
});
