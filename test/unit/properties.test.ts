import fc from 'fast-check';
import t from 'tap';
import { isWellFormed, base62 } from '../../gateway/auth/token-format';
import { parseDuration } from '../../gateway/config/duration';
import { ConfigError } from '../../gateway/config/env';
import { validateConfig } from '../../gateway/config/validate';
import { forwardingHeader, isGatehouseHeader, upstreamHeaders, type ForwardContext } from '../../gateway/http/forward-headers';
import { RouteTable } from '../../gateway/routing/route-table';
import { crc32 } from 'node:zlib';

/** Fixed per run, so a failure can be replayed; FC_SEED overrides it. */
const SEED = Number(process.env.FC_SEED ?? 20261207);
const RUNS = { seed: SEED, numRuns: 300 };
t.comment(`fast-check seed ${SEED} (set FC_SEED to replay another)`);

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const base62Char = fc.constantFrom(...ALPHABET.split(''));
const body30 = fc.array(base62Char, { minLength: 30, maxLength: 30 }).map((cs) => cs.join(''));
const secretOf = (body: string): string => `gth_${body}${base62(crc32(body), 6)}`;

t.test('token format', async (t) => {
  fc.assert(fc.property(body30, (body) => isWellFormed(secretOf(body))), RUNS);
  t.pass('every body with its checksum is well formed');

  fc.assert(fc.property(body30, fc.nat(39), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }), (body, at, c) => {
    const secret = secretOf(body);
    const changed = secret.slice(0, at) + c + secret.slice(at + 1);
    // A change that keeps it identical, or hits a CRC collision in the base62 digits, is the only way through.
    return changed === secret || !isWellFormed(changed) || changed.slice(4, 34) !== body;
  }), RUNS);
  t.pass('any one changed character is refused');

  fc.assert(fc.property(fc.string({ maxLength: 60 }), (s) => !isWellFormed(s) || (s.length === 40 && s.startsWith('gth_'))), RUNS);
  t.pass('nothing of another length or prefix is well formed');
});

const FORWARDING_BASES = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded', 'x-real-ip', 'true-client-ip'];

/** Every spelling of a name: each `-` as `-`, `_` or `.`, each letter in either case. */
function spelling(base: string): fc.Arbitrary<string> {
  return fc.array(fc.tuple(fc.constantFrom('-', '_', '.'), fc.boolean()), { minLength: base.length, maxLength: base.length })
    .map((choices) => [...base].map((ch, i) => (ch === '-' ? choices[i][0] : choices[i][1] ? ch.toUpperCase() : ch)).join(''));
}

const UNTRUSTED: ForwardContext = {
  peerAddress: '203.0.113.9', trustedPeer: false, proto: 'https', host: 'h.example', requestId: 'rid', tokenId: undefined, keepAuthorization: false,
};

t.test('header folding', async (t) => {
  const spoof = fc.constantFrom(...FORWARDING_BASES).chain(spelling);
  fc.assert(fc.property(spoof, (name) => forwardingHeader(name.toLowerCase()) !== undefined), RUNS);
  t.pass('every spelling of a forwarding header is recognised');

  fc.assert(fc.property(fc.array(fc.tuple(spoof, fc.string({ minLength: 1, maxLength: 20 })), { maxLength: 8 }), (pairs) => {
    const raw = pairs.flat();
    const out = upstreamHeaders({}, raw, UNTRUSTED);
    const names = out.filter((_, i) => i % 2 === 0).filter((n) => forwardingHeader(n.toLowerCase()) !== undefined);
    return names.join() === 'x-forwarded-for,x-forwarded-proto,x-forwarded-host' && out[out.indexOf('x-forwarded-for') + 1] === '203.0.113.9';
  }), RUNS);
  t.pass('from an untrusted peer only the gateway\'s own reach the upstream, with its values');

  const gatehouse = fc.constantFrom('x-gatehouse-token-id', 'x-gatehouse-anything').chain(spelling);
  fc.assert(fc.property(gatehouse, (name) => isGatehouseHeader(name.toLowerCase())), RUNS);
  t.pass('every spelling of x-gatehouse-* is recognised');

  const other = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,30}$/).filter((n) => {
    const folded = n.replace(/[_.]/g, '-');
    return !folded.startsWith('x-forwarded-') && !['forwarded', 'x-real-ip', 'true-client-ip'].includes(folded);
  });
  fc.assert(fc.property(other, (name) => forwardingHeader(name) === undefined), RUNS);
  t.pass('no other name is taken for one');
});

const CONFIG_BASE = { organization: 'acme', domain: 'gw.test', store: { driver: 'embedded', path: '/tmp/never-opened.db' } };

t.test('host routing', async (t) => {
  const names = fc.uniqueArray(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/), { minLength: 1, maxLength: 5 });
  fc.assert(fc.property(names, fc.nat(), fc.boolean(), fc.option(fc.integer({ min: 1, max: 65535 })), (list, pick, upper, port) => {
    const config = validateConfig({ ...CONFIG_BASE, deployments: list.map((name) => ({ name, access: 'public', upstreams: ['http://127.0.0.1:1'] })) }, 'x.yaml', {});
    const table = new RouteTable(config, []);
    try {
      const name = list[pick % list.length];
      let host = `${name}.acme.gw.test`;
      if (upper) host = host.toUpperCase();
      if (port !== null) host += `:${port}`;
      const found = table.lookup(host)?.name === name;
      const unknown = table.lookup(`${name}x-unknown.acme.gw.test`) === undefined && table.lookup(`${name}.acme.gw.test:port`) === undefined;
      return found && unknown;
    } finally {
      for (const route of table.routes()) route.upstreams.destroy();
    }
  }), { ...RUNS, numRuns: 100 });
  t.pass('a Deployment\'s host finds it in any case and with any port; others find nothing');
});

t.test('config validation', async (t) => {
  const anyValue: fc.Arbitrary<unknown> = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.boolean(), fc.constant(null),
    fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }));
  const keys = ['organization', 'domain', 'timeouts', 'cache', 'failedAuth', 'trustedProxies', 'listeners', 'deployments', 'log', 'unknownKey'];
  fc.assert(fc.property(fc.constantFrom(...keys), anyValue, (key, value) => {
    try {
      const config = validateConfig({ ...CONFIG_BASE, [key]: value }, 'x.yaml', {});
      return Object.isFrozen(config) && Object.isFrozen(config.timeouts);
    } catch (err) {
      // Refused with a message that names where: the key itself or a path under it.
      return err instanceof ConfigError && err.message.startsWith(key);
    }
  }), { ...RUNS, numRuns: 1_000 });
  t.pass('any value under any key: a frozen config, or a ConfigError naming the key path');

  const durationKey = fc.constantFrom('connect', 'response', 'idle', 'requestHeaders');
  fc.assert(fc.property(durationKey, fc.integer({ min: 1, max: 30_000 }), fc.constantFrom('ms', 's', 'm'), (key, n, unit) => {
    const config = validateConfig({ ...CONFIG_BASE, timeouts: { [key]: `${n}${unit}` } }, 'x.yaml', {});
    return config.timeouts[key] === parseDuration(`${n}${unit}`);
  }), RUNS);
  t.pass('every timeout takes any duration as written');

  t.throws(() => validateConfig({ ...CONFIG_BASE, deployments: [{ name: 'a', access: 'public', upstreams: ['http://127.0.0.1:1'], timeouts: { requestHeaders: '1s' } }] }, 'x.yaml', {}),
    /deployments\[0\]\.timeouts\.requestHeaders: unknown key/, 'requestHeaders is gateway-wide, not per Deployment');
  t.throws(() => validateConfig({ ...CONFIG_BASE, timeouts: { requestHeaders: '0s' } }, 'x.yaml', {}), /timeouts\.requestHeaders: must be longer than 0/);
});
