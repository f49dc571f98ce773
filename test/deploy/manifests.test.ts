import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { loadConfig } from '../../gateway/config/load';
import { runCli } from '../helpers/cli';
import { containerEnv, find, KUBERNETES, manifestProblems, podSpec, render, ROOT, servedConfig, type K8sObject } from './manifest-checks';

// SPEC §9 and issue 11: the base and every overlay render, every object validates against the
// Kubernetes schemas (offline, kubernetes-models), the served config passes `gatehouse config
// check` with the environment the Deployment gives it, and the rules in manifest-checks.ts hold.
const work = mkdtempSync(join(tmpdir(), 'gatehouse-manifests-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

interface Model { validate(): void }
type ModelClass = new (data: unknown) => Model;

/** The kubernetes-models class of an object (ESM-only packages, loaded by file path). */
function modelOf(object: K8sObject): ModelClass | undefined {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const file = group === 'monitoring.coreos.com'
    ? join(ROOT, 'node_modules', '@kubernetes-models', 'prometheus-operator', group, version, `${object.kind}.js`)
    : join(ROOT, 'node_modules', 'kubernetes-models', group || version, ...(group ? [version] : []), `${object.kind}.js`);
  if (!existsSync(file)) return undefined;
  return (require(file) as Record<string, ModelClass>)[object.kind];
}

function schemaProblems(name: string, objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const object of objects) {
    const Model = modelOf(object);
    if (!Model) {
      problems.push(`${name}: no schema for ${object.apiVersion} ${object.kind}`);
      continue;
    }
    try {
      new Model(object).validate();
    } catch (err) {
      problems.push(`${name}: ${object.kind} ${object.metadata.name}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** Every problem with one kustomization directory, each naming `name`. */
async function overlayProblems(name: string, dir: string): Promise<string[]> {
  let objects: K8sObject[];
  try {
    objects = render(dir);
  } catch (err) {
    return [`${name}: kubectl kustomize failed: ${(err as { stderr?: string }).stderr ?? String(err)}`];
  }
  const problems = schemaProblems(name, objects);
  const deployment = find(objects, 'Deployment')[0];
  if (!deployment) return [...problems, `${name}: no Deployment`];
  const spec = podSpec(deployment);
  const container = spec.containers[0];
  const served = servedConfig(objects, container, spec);
  if (typeof served === 'string') return [...problems, `${name}: ${served}`];
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, served.text);
  const env = containerEnv(container);
  // The TLS files live in a Secret volume the test does not have; the rules check where they are mounted.
  const check = await runCli(['config', 'check', '--config', file, '--skip-tls-files'], env);
  if (check.code !== 0) return [...problems, `${name}: gatehouse config check refuses the ConfigMap's config: ${check.stderr.trim()}`];
  const config = loadConfig(file, env);
  const listeners = [...config.listeners.external, ...config.listeners.internal, ...config.listeners.admin];
  return [...problems, ...manifestProblems(name, objects, {
    adminPorts: config.listeners.admin.map((l) => l.port),
    listenerPorts: listeners.map((l) => l.port),
    graceSeconds: config.shutdown.grace / 1000,
    tlsFiles: listeners.flatMap((l) => (l.tls ? [l.tls.certFile, l.tls.keyFile] : [])),
    pepper: config.tokens.pepper,
  })];
}

/**
 * A kustomization in the temp folder on top of one of the repository's, with the given extra
 * fields, and `added` objects written beside it as further resources.
 */
function tempOverlay(name: string, over: string, extra: Record<string, unknown>, added: Record<string, unknown>[] = []): string {
  const dir = join(work, name);
  mkdirSync(dir);
  const files = added.map((object, i) => {
    writeFileSync(join(dir, `added-${i}.yaml`), stringify(object));
    return `added-${i}.yaml`;
  });
  writeFileSync(join(dir, 'kustomization.yaml'), stringify({
    apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [relative(dir, join(KUBERNETES, over)), ...files], ...extra,
  }));
  return dir;
}

const targets = [['base', '.'], ['redis', 'overlays/redis'], ['redis-sentinel', 'overlays/redis-sentinel']] as const;

for (const [name, dir] of targets) {
  t.test(`deploy/kubernetes/${dir}: renders, validates, and follows the rules`, async (t) => {
    t.same(await overlayProblems(name, join(KUBERNETES, dir)), [], `${name}: no problems`);
  });
}

t.test('every overlay in deploy/kubernetes/overlays is covered', async (t) => {
  const overlays = readdirSync(join(KUBERNETES, 'overlays')).sort();
  t.same(overlays, targets.filter(([, d]) => d.startsWith('overlays/')).map(([n]) => n).sort());
});

t.test('the overlays point at the Redis kinds they are named for', async (t) => {
  const store = async (dir: string): Promise<unknown> => {
    const objects = render(join(KUBERNETES, dir));
    const container = podSpec(find(objects, 'Deployment')[0]).containers[0];
    const served = servedConfig(objects, container, podSpec(find(objects, 'Deployment')[0]));
    if (typeof served === 'string') throw new Error(served);
    const file = join(work, `store-${dir.replace(/\W/g, '-')}.yaml`);
    writeFileSync(file, served.text);
    return loadConfig(file, containerEnv(container)).store;
  };
  t.match(await store('overlays/redis'), { driver: 'redis', url: /^redis:\/\/[a-z0-9.-]+\.svc\.cluster\.local:6379\/0$/ }, 'redis: one URL');
  t.match(await store('overlays/redis-sentinel'), {
    driver: 'redis', sentinels: [{ port: 26379 }, { port: 26379 }, { port: 26379 }], name: 'mymaster',
    password: 'stand-in-for-secret-gatehouse-redis-password', sentinelPassword: 'stand-in-for-secret-gatehouse-redis-password',
  }, 'redis-sentinel: the sentinels, the master name, and the passwords from the gatehouse-redis Secret');
  t.same(find(render(join(KUBERNETES, 'overlays/redis')), 'StatefulSet'), [], 'no hand-written Redis');
});

t.test('the image the base names is this version', async (t) => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const container = podSpec(find(render(KUBERNETES), 'Deployment')[0]).containers[0] as { image?: string };
  t.match(container.image, new RegExp(`:${version.replace(/\./g, '\\.')}$`));
});

t.test('the ServiceMonitor component scrapes /metrics on the admin Service', async (t) => {
  const dir = tempOverlay('with-monitor', 'overlays/redis', { components: [relative(join(work, 'with-monitor'), join(KUBERNETES, 'components', 'service-monitor'))] });
  const objects = render(dir);
  t.same(schemaProblems('with-monitor', objects), [], 'every object validates, the ServiceMonitor too');
  const [monitor] = find(objects, 'ServiceMonitor');
  const spec = monitor.spec as { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] };
  const admin = find(objects, 'Service').filter((s) => Object.entries(spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v));
  t.same(admin.map((s) => s.metadata.name), ['gatehouse-admin'], 'it selects the admin Service only');
  const portNames = ((admin[0].spec as { ports: { name: string }[] }).ports).map((p) => p.name);
  t.ok(portNames.includes(spec.endpoints[0].port), 'on its named port');
  t.equal(spec.endpoints[0].path, '/metrics');
  t.same(find(render(join(KUBERNETES, 'overlays/redis')), 'ServiceMonitor'), [], 'and it is optional: the overlays do not include it');
});

t.test('an overlay that drops the pepper Secret fails, by name', async (t) => {
  const dropped = tempOverlay('drops-pepper', 'overlays/redis', {
    patches: [{ target: { kind: 'Deployment', name: 'gatehouse' }, patch: stringify([{ op: 'remove', path: '/spec/template/spec/containers/0/env/0' }]) }],
  });
  const literal = tempOverlay('literal-pepper', 'overlays/redis', {
    patches: [{ target: { kind: 'Deployment', name: 'gatehouse' }, patch: stringify([{ op: 'replace', path: '/spec/template/spec/containers/0/env/0', value: { name: 'GATEHOUSE_PEPPER', value: 'committed-in-git' } }]) }],
  });
  const [droppedProblems, literalProblems] = await Promise.all([overlayProblems('drops-pepper', dropped), overlayProblems('literal-pepper', literal)]);
  t.match(droppedProblems, [/^drops-pepper: gatehouse config check refuses .*tokens\.pepper: environment variable GATEHOUSE_PEPPER is not set/], 'a dropped pepper: the overlay is named, and why');
  t.match(literalProblems, [/^literal-pepper: GATEHOUSE_PEPPER is not read from a Secret/, /^literal-pepper: tokens\.pepper does not come from GATEHOUSE_PEPPER/], 'a literal in its place: named too');
});

t.test('the rules catch the usual slips', async (t) => {
  const careless = tempOverlay('careless', 'overlays/redis', {
    patches: [
      { target: { kind: 'Deployment', name: 'gatehouse' }, patch: stringify([
        { op: 'replace', path: '/spec/template/spec/terminationGracePeriodSeconds', value: 30 },
        { op: 'replace', path: '/spec/template/spec/containers/0/readinessProbe/httpGet/port', value: 'http' },
      ]) },
      { target: { kind: 'Service', name: 'gatehouse-admin' }, patch: stringify([{ op: 'replace', path: '/spec/type', value: 'NodePort' }]) },
    ],
  });
  t.match(await overlayProblems('careless', careless), [
    /^careless: readinessProbe port http is not the admin listener's \(9090\)$/,
    /^careless: terminationGracePeriodSeconds 30 does not cover shutdown\.grace \(30s\) plus the preStop pause \(10s\)$/,
    /^careless: Service gatehouse-admin \(NodePort\) exposes the admin port outside the cluster$/,
  ]);
});

t.test('the rules catch what SPEC §9 forbids: hostNetwork, root, an Ingress to the admin listener, a budget that lets every replica go', async (t) => {
  const forbidden = tempOverlay('forbidden', 'overlays/redis', {
    patches: [
      { target: { kind: 'Deployment', name: 'gatehouse' }, patch: stringify([
        { op: 'add', path: '/spec/template/spec/hostNetwork', value: true },
        // The pod still says runAsNonRoot: true; the container's false overrides it.
        { op: 'replace', path: '/spec/template/spec/containers/0/securityContext/runAsNonRoot', value: false },
      ]) },
      { target: { kind: 'PodDisruptionBudget', name: 'gatehouse' }, patch: stringify([{ op: 'replace', path: '/spec/maxUnavailable', value: '100%' }]) },
    ],
  }, [{
    apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'console' },
    spec: { rules: [{ host: 'console.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'gatehouse-admin', port: { number: 9090 } } } }] } }] },
  }]);
  t.match(await overlayProblems('forbidden', forbidden), [
    /^forbidden: hostNetwork is set$/,
    /^forbidden: runAsNonRoot is not true$/,
    /^forbidden: Ingress console routes to the admin Service gatehouse-admin$/,
    /^forbidden: no PodDisruptionBudget keeps a replica up through node drains/,
  ]);

  const rootUser = tempOverlay('root-user', 'overlays/redis', {
    patches: [{ target: { kind: 'Deployment', name: 'gatehouse' }, patch: stringify([{ op: 'add', path: '/spec/template/spec/containers/0/securityContext/runAsUser', value: 0 }]) }],
  });
  t.match(await overlayProblems('root-user', rootUser), [/^root-user: runs as root$/], 'user 0 in the container overrides the pod\'s 10001');
});
