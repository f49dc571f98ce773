import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DockerfileParser, type JSONInstruction } from 'dockerfile-ast';
import { loadConfig } from '../../gateway/config/load';
import { containerEnv, find, KUBERNETES, podSpec, render, ROOT, servedConfig, type K8sObject } from '../deploy/manifest-checks';
import { runCli } from '../helpers/cli';
import { startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { startRedis } from '../helpers/redis';
import { startUpstream } from '../helpers/upstream';

// No cluster runs here. The README's "Run it in Kubernetes" commands (and the Deploy commands
// of docs/operations.md) are held to what the manifests and the image really name: the
// namespace, the Secrets and their keys, the overlay, the Deployment and Services, the CLI's
// path in the image and the config's path in the pod. The commands run through `kubectl exec`
// then run for real, with the overlay's config and the Deployment's environment, on a real
// Redis standing in for the cluster's (and a real upstream for the model server), and the
// README's call is made against a gateway on that store.

/** One shell command of a fenced block: continuation lines joined, the trailing comment apart, split into words. */
interface Command { readonly line: string; readonly words: string[]; readonly comment: string }

/** A heading's section of a Markdown file, up to the next heading of its level or above (outside code blocks). */
function section(file: string, heading: string): string {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`${file} has no "${heading}" section`);
  const level = heading.indexOf(' ');
  let fenced = false;
  let end = start + 1;
  for (; end < lines.length; end++) {
    if (lines[end]!.startsWith('```')) fenced = !fenced;
    const depth = /^(#+) /.exec(lines[end]!)?.[1]?.length;
    if (!fenced && depth !== undefined && depth <= level) break;
  }
  return lines.slice(start, end).join('\n');
}

function commands(text: string): Command[] {
  const blocks = [...text.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
  return blocks.flatMap((block) => block.replace(/\\\n\s*/g, '').split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).map((line) => {
    const at = line.search(/\s+#\s/);
    const command = (at < 0 ? line : line.slice(0, at)).trim();
    return { line: command, words: words(command), comment: at < 0 ? '' : line.slice(at).replace(/^\s+#\s*/, '') };
  }));
}

/** Shell words, with '…' and "…" quoting (what the snippets use). */
function words(line: string): string[] {
  return [...line.trim().matchAll(/'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** The value after a flag (`-n NS`, `--cert=FILE`). */
function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i >= 0) return argv[i + 1];
  return argv.find((w) => w.startsWith(`${name}=`))?.slice(name.length + 1);
}

const kubectl = (list: Command[], ...verb: string[]): Command[] => list.filter((c) => {
  if (c.words[0] !== 'kubectl') return false;
  const rest = c.words.slice(1).filter((w, i, all) => w !== '-n' && all[i - 1] !== '-n');
  return verb.every((v, i) => rest[i] === v);
});

const entrypoint = ((): string[] => {
  const [instruction] = DockerfileParser.parse(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).getInstructions().filter((i) => i.getKeyword() === 'ENTRYPOINT').slice(-1);
  return (instruction as JSONInstruction).getJSONStrings().map((s) => s.getJSONValue());
})();

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const readme = commands(section('README.md', '## Run it in Kubernetes'));
const operations = commands(section('docs/operations.md', '### Deploy'));

/** What the objects an overlay renders name, for the commands to be checked against. */
function overlayNames(objects: K8sObject[]) {
  const deployment = find(objects, 'Deployment')[0]!;
  const spec = podSpec(deployment);
  const container = spec.containers[0]!;
  const env = container.env ?? [];
  return {
    namespaces: new Set(objects.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata.namespace)),
    deployment: deployment.metadata.name,
    pepper: env.find((e) => e.name === 'GATEHOUSE_PEPPER')?.valueFrom?.secretKeyRef,
    tlsSecrets: (spec.volumes ?? []).flatMap((v) => (v.secret ? [v.secret.secretName] : [])),
    services: new Map(find(objects, 'Service').map((s) => [s.metadata.name, s.spec as { type?: string; ports: { port: number }[] }])),
    served: servedConfig(objects, container, spec),
    env: containerEnv(container),
  };
}

for (const [source, list] of [['README.md', readme], ['docs/operations.md', operations]] as const) {
  t.test(`${source}: the deploy commands name what the manifests name`, async (t) => {
    const [apply] = kubectl(list, 'apply', '-k');
    t.ok(apply, 'kubectl apply -k an overlay');
    const overlay = apply!.words[3]!;
    t.match(overlay, /^deploy\/kubernetes\/overlays\/[a-z-]+$/, 'one of the overlays');
    t.ok(statSync(join(ROOT, overlay)).isDirectory(), `${overlay} exists`);
    for (const other of apply!.comment.match(/overlays\/[a-z-]+/g) ?? []) t.ok(statSync(join(KUBERNETES, other)).isDirectory(), `the other one named, ${other}, exists`);
    const names = overlayNames(render(join(ROOT, overlay)));

    const [namespace] = kubectl(list, 'create', 'namespace');
    t.same([...names.namespaces], [namespace?.words[3]], `every object goes to the namespace created (${namespace?.words[3]})`);
    // Every other command that talks to the cluster (kubectl kustomize renders locally).
    for (const c of list.filter((c) => c.words[0] === 'kubectl' && c.words[1] !== 'kustomize' && c !== namespace && c !== apply)) t.equal(flag(c.words, '-n'), namespace?.words[3], `${c.words.slice(0, 6).join(' ')}: in that namespace`);

    const [pepper] = kubectl(list, 'create', 'secret', 'generic');
    t.equal(pepper?.words[6], names.pepper?.name, 'the generic Secret is the one GATEHOUSE_PEPPER reads');
    t.equal(flag(pepper?.words ?? [], '--from-literal')?.split('=')[0], names.pepper?.key, 'with the key it reads');
    const [tls] = kubectl(list, 'create', 'secret', 'tls');
    t.same(names.tlsSecrets, [tls?.words[6]], 'the tls Secret is the one mounted for the listeners');

    const [rollout] = kubectl(list, 'rollout', 'status');
    t.equal(rollout?.words[5], `deploy/${names.deployment}`, 'rollout status waits on the Deployment');
  });
}

t.test('README.md: the first token through kubectl exec, a protected Deployment, and the call', async (t) => {
  const overlay = kubectl(readme, 'apply', '-k')[0]!.words[3]!;
  const names = overlayNames(render(join(ROOT, overlay)));
  if (typeof names.served === 'string') throw new Error(names.served);
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-readme-k8s-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, names.served.text);
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const upstream = await startUpstream(t);
  // The cluster's Redis and model server are the test's; everything else is as the pod has it.
  const env = { ...names.env, GATEHOUSE_REDIS_URL: redis.url, GATEHOUSE_HOME: join(dir, '.gatehouse') };
  const config = loadConfig(file, env);

  const execs = kubectl(readme, 'exec');
  t.equal(execs.length, 2, 'two commands in the pod: the token and the Deployment');
  let secret = '';
  let modelServer = '';
  for (const c of execs) {
    t.equal(c.words[c.words.indexOf('exec') + 1], `deploy/${names.deployment}`, 'exec in the Deployment');
    const argv = c.words.slice(c.words.indexOf('--') + 1);
    t.same(argv.slice(0, entrypoint.length), entrypoint, 'the CLI as the image\'s ENTRYPOINT names it');
    const args = argv.slice(entrypoint.length);
    t.equal(flag(args, '--config'), names.served.path, 'the config where the pod has it');
    const upstreamAt = args.indexOf('--upstream');
    if (upstreamAt >= 0) modelServer = args[upstreamAt + 1]!;
    const local = args.map((w, i) => (args[i - 1] === '--config' ? file : args[i - 1] === '--upstream' ? upstream.url : w));
    const result = await runCli(local, env);
    t.equal(result.code, 0, `gatehouse ${args.slice(0, 3).join(' ')}: ${result.stderr}`);
    if (args[0] === 'token') {
      const printed = result.stdout.split('\n');
      const at = printed.findIndex((l) => /^gth_[0-9A-Za-z]{36}$/.test(l));
      secret = printed[at] ?? '';
      t.ok(at > 0 && README.includes(`# ${printed[at - 1]}\n# gth_`), `the README shows the line it prints above the secret: ${printed[at - 1]}`);
    }
  }
  t.match(secret, /^gth_/, 'a secret was printed');
  t.match(modelServer, /^http:\/\/[a-z0-9.-]+:\d+$/, 'the Deployment points at a model server');

  const [edge] = readme.filter((c) => c.line.startsWith('EDGE='));
  t.match(edge?.line, /kubectl -n \S+ get svc gatehouse-external /, 'the address is the external Service\'s');
  t.equal(names.services.get('gatehouse-external')?.type, 'LoadBalancer', 'a LoadBalancer');
  const [curl] = readme.filter((c) => c.words[0] === 'curl');
  const url = new URL(curl!.words.find((w) => /^https?:\/\//.test(w))!);
  t.equal(url.hostname, `summarizer.${config.organization}.${config.domain}`, 'the host is the Deployment\'s default host under the base config');
  t.ok(curl!.words.includes('Authorization: Bearer $TOKEN'), 'with the token');
  const [withToken, without] = /^(\d{3}); without the token: (\d{3})$/.exec(curl!.comment)?.slice(1).map(Number) ?? [];

  const gw = await startGateway(t, {
    deployments: [],
    store: { driver: 'redis', url: redis.url },
    extra: { organization: config.organization, domain: config.domain, tokens: { pepper: config.tokens.pepper } },
  });
  const path = `${gw.external}${url.pathname}`;
  t.equal((await get(path, { host: url.hostname, authorization: `Bearer ${secret}` })).status, withToken, `with the token: ${withToken}`);
  t.equal((await get(path, { host: url.hostname })).status, without, `without: ${without}`);

  const [, service, port] = /`kubectl -n \S+ port-forward (\S+) (\d+)`/.exec(section('README.md', '## Run it in Kubernetes').replace(/\n/g, ' ')) ?? [];
  t.equal(service, 'svc/gatehouse-admin', 'the admin API through the admin Service');
  t.equal(names.services.get('gatehouse-admin')?.type ?? 'ClusterIP', 'ClusterIP', 'which stays in the cluster');
  t.same(names.services.get('gatehouse-admin')?.ports.map((p) => String(p.port)), [port], 'on its port');
});

t.test('README.md and docs/operations.md create the namespace and the Secrets the same way', async (t) => {
  const created = (list: Command[]): string[] => kubectl(list, 'create').map((c) => c.line);
  const first = created(readme);
  t.equal(first.length, 3, 'the README creates the namespace, the pepper Secret and the TLS Secret');
  t.same(created(operations).slice(0, first.length), first, 'docs/operations.md starts with the same three');
});
