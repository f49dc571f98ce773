import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** What the checks read of rendered Kubernetes objects: plain data, as kustomize prints it. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

interface Port { name?: string; containerPort: number }
interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } } }
interface Probe { httpGet?: { path: string; port: number | string } }
interface Mount { name: string; mountPath: string; subPath?: string }
export interface Container {
  name: string;
  args?: string[];
  ports?: Port[];
  env?: EnvVar[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command: string[] } } };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean; runAsUser?: number; capabilities?: { drop?: string[] } };
  volumeMounts?: Mount[];
}
export interface PodSpec {
  containers: Container[];
  hostNetwork?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  topologySpreadConstraints?: { topologyKey: string }[];
  volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
}
interface ServicePort { name?: string; port: number; targetPort?: number | string; nodePort?: number }

export const ROOT = resolve(__dirname, '..', '..');
export const KUBERNETES = join(ROOT, 'deploy', 'kubernetes');

/** `kubectl kustomize DIR`, parsed. */
export function render(dir: string): K8sObject[] {
  const text = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(text).map((doc) => doc.toJS() as K8sObject);
}

export function find(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

export function podSpec(deployment: K8sObject): PodSpec {
  return (deployment.spec as { template: { spec: PodSpec } }).template.spec;
}

/** The environment a container is given: literal values, and a stand-in for each value read from a Secret. */
export function containerEnv(container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) env[e.name] = `stand-in-for-secret-${e.valueFrom.secretKeyRef.name}-${e.valueFrom.secretKeyRef.key}`;
  }
  return env;
}

/** The file the container serves: the ConfigMap key mounted where `serve --config` reads. */
export function servedConfig(objects: K8sObject[], container: Container, spec: PodSpec): { path: string; text: string } | string {
  const args = container.args ?? [];
  const path = args[args.indexOf('--config') + 1] ?? '/etc/gatehouse/gatehouse.yaml';
  for (const mount of container.volumeMounts ?? []) {
    const volume = spec.volumes?.find((v) => v.name === mount.name);
    if (!volume?.configMap) continue;
    const key = mount.subPath ? (mount.mountPath === path ? mount.subPath : undefined) : path.startsWith(`${mount.mountPath}/`) ? path.slice(mount.mountPath.length + 1) : undefined;
    if (key === undefined) continue;
    const map = find(objects, 'ConfigMap').find((c) => c.metadata.name === volume.configMap?.name);
    const text = map?.data?.[key];
    return text === undefined ? `ConfigMap ${volume.configMap.name} has no key ${key}` : { path, text };
  }
  return `no ConfigMap is mounted at ${path}`;
}

const PEPPER_ENV = 'GATEHOUSE_PEPPER';

/**
 * The rules SPEC §9 and issue 11 set for the rendered manifests, as a list of problems
 * (empty when all hold), each starting with `name` so a failing overlay is named.
 * The config's own validity is checked by `gatehouse config check` in the test.
 */
export function manifestProblems(name: string, objects: K8sObject[], config: { adminPorts: number[]; listenerPorts: number[]; graceSeconds: number; tlsFiles: string[]; pepper: string }): string[] {
  const problems: string[] = [];
  const problem = (text: string): void => void problems.push(`${name}: ${text}`);
  const deployments = find(objects, 'Deployment');
  if (deployments.length !== 1) return [`${name}: expected one Deployment, found ${deployments.length}`];
  const deployment = deployments[0];
  const spec = podSpec(deployment);
  const container = spec.containers[0];
  const portNumber = (port: number | string | undefined): number | undefined => (typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort);

  const replicas = (deployment.spec as { replicas?: number }).replicas ?? 1;
  if (replicas < 3) problem('the Deployment runs fewer than 3 replicas');
  if (!spec.topologySpreadConstraints?.some((c) => c.topologyKey === 'kubernetes.io/hostname')) problem('the replicas are not spread across nodes (topologySpreadConstraints on kubernetes.io/hostname)');
  if (spec.hostNetwork) problem('hostNetwork is set');

  for (const [probe, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']] as const) {
    const get = container[probe]?.httpGet;
    if (!get) problem(`no ${probe}`);
    else {
      if (get.path !== path) problem(`${probe} asks ${get.path}, not ${path}`);
      if (!config.adminPorts.includes(portNumber(get.port) ?? -1)) problem(`${probe} port ${String(get.port)} is not the admin listener's (${config.adminPorts.join(', ')})`);
    }
  }
  const declared = (container.ports ?? []).map((p) => p.containerPort);
  for (const port of config.listenerPorts) if (!declared.includes(port)) problem(`the container does not declare the listener port ${port}`);

  const preStop = container.lifecycle?.preStop;
  const pause = preStop?.sleep?.seconds ?? Number(/^sleep$/.test(preStop?.exec?.command[0] ?? '') ? preStop?.exec?.command[1] : NaN);
  if (!Number.isFinite(pause) || pause <= 0) problem('no preStop pause before the drain');
  else if ((spec.terminationGracePeriodSeconds ?? 30) <= config.graceSeconds + pause) {
    problem(`terminationGracePeriodSeconds ${String(spec.terminationGracePeriodSeconds ?? 30)} does not cover shutdown.grace (${config.graceSeconds}s) plus the preStop pause (${pause}s)`);
  }

  const resources = container.resources;
  if (!resources?.requests?.cpu || !resources.limits?.cpu) problem('the container has no CPU request and limit');
  const security = container.securityContext;
  // The container's securityContext overrides the pod's, field by field.
  if ((security?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot) !== true) problem('runAsNonRoot is not true');
  if ((security?.runAsUser ?? spec.securityContext?.runAsUser) === 0) problem('runs as root');
  if (security?.readOnlyRootFilesystem !== true) problem('the root filesystem is not read-only');
  if (security?.allowPrivilegeEscalation !== false) problem('privilege escalation is allowed');
  if (!security?.capabilities?.drop?.includes('ALL')) problem('capabilities are not all dropped');
  if (spec.securityContext?.seccompProfile?.type !== 'RuntimeDefault') problem('the seccomp profile is not RuntimeDefault');

  const pepperVar = container.env?.find((e) => e.name === PEPPER_ENV);
  const secretName = pepperVar?.valueFrom?.secretKeyRef?.name;
  if (!secretName) problem(`${PEPPER_ENV} is not read from a Secret (the pepper Secret is dropped or replaced by a literal)`);
  else if (find(objects, 'Secret').some((s) => s.metadata.name === secretName)) problem(`the pepper Secret ${secretName} is rendered: its value would be committed`);
  if (!config.pepper.startsWith('stand-in-for-secret-')) problem(`tokens.pepper does not come from ${PEPPER_ENV} read from a Secret`);

  const secretMounts = (container.volumeMounts ?? []).filter((m) => spec.volumes?.find((v) => v.name === m.name)?.secret);
  for (const file of config.tlsFiles) {
    if (!secretMounts.some((m) => file.startsWith(`${m.mountPath}/`))) problem(`the TLS file ${file} is not on a Secret volume`);
  }

  const selector = (deployment.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
  const selects = (labels: Record<string, string> | undefined): boolean => labels !== undefined && Object.entries(labels).every(([k, v]) => selector[k] === v);
  const services = find(objects, 'Service');
  const serviceTypes = new Map(services.map((s) => [s.metadata.name, (s.spec as { type?: string }).type ?? 'ClusterIP']));
  for (const type of ['LoadBalancer', 'ClusterIP']) if (![...serviceTypes.values()].includes(type)) problem(`no ${type} Service`);
  for (const service of services) {
    const s = service.spec as { type?: string; ports?: ServicePort[]; externalIPs?: string[]; selector?: Record<string, string> };
    if (!selects(s.selector)) continue;
    const outside = s.type === 'LoadBalancer' || s.type === 'NodePort' || (s.externalIPs?.length ?? 0) > 0;
    const admin = (s.ports ?? []).filter((p) => config.adminPorts.includes(portNumber(p.targetPort ?? p.port) ?? -1));
    if (outside && admin.length > 0) problem(`Service ${service.metadata.name} (${s.type ?? 'externalIPs'}) exposes the admin port outside the cluster`);
  }
  for (const ingress of find(objects, 'Ingress')) {
    const text = JSON.stringify(ingress.spec);
    for (const [svc] of serviceTypes) {
      const service = services.find((s) => s.metadata.name === svc);
      const ports = ((service?.spec as { ports?: ServicePort[] }).ports ?? []).filter((p) => config.adminPorts.includes(portNumber(p.targetPort ?? p.port) ?? -1));
      if (ports.length > 0 && text.includes(`"name":"${svc}"`)) problem(`Ingress ${ingress.metadata.name} routes to the admin Service ${svc}`);
    }
  }
  if ((container.ports ?? []).some((p) => (p as { hostPort?: number }).hostPort)) problem('a container port is bound on the host (hostPort)');

  const budgets = find(objects, 'PodDisruptionBudget').map((p) => p.spec as { selector?: { matchLabels?: Record<string, string> }; minAvailable?: number | string; maxUnavailable?: number | string });
  const selecting = budgets.filter((b) => selects(b.selector?.matchLabels));
  if (selecting.length === 0) problem('no PodDisruptionBudget selects the pods');
  else if (!selecting.some((b) => disruptionsLeaveUp(b, replicas))) problem(`no PodDisruptionBudget keeps a replica up through node drains (${JSON.stringify(selecting)})`);
  const hpa = find(objects, 'HorizontalPodAutoscaler')[0];
  const hpaSpec = hpa?.spec as { scaleTargetRef?: { kind: string; name: string }; metrics?: { resource?: { name: string } }[] } | undefined;
  if (hpaSpec?.scaleTargetRef?.name !== deployment.metadata.name || !hpaSpec.metrics?.some((m) => m.resource?.name === 'cpu')) problem('no HorizontalPodAutoscaler on CPU scales the Deployment');

  const policy = find(objects, 'NetworkPolicy')[0];
  if (!policy) problem('no NetworkPolicy');
  else {
    const rules = (policy.spec as { ingress?: { from?: Record<string, unknown>[]; ports?: { port: number | string }[] }[] }).ingress ?? [];
    for (const rule of rules) {
      // A rule without ports admits every port, the admin one too.
      if (rule.ports && !rule.ports.some((p) => config.adminPorts.includes(portNumber(p.port) ?? -1))) continue;
      for (const peer of rule.from ?? [{}]) {
        const sameNamespace = 'podSelector' in peer && !('namespaceSelector' in peer);
        const labels = (peer.namespaceSelector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels;
        const monitoring = labels?.['kubernetes.io/metadata.name'] === 'monitoring';
        if (!sameNamespace && !monitoring) problem(`NetworkPolicy ${policy.metadata.name} admits the admin port from ${JSON.stringify(peer)}`);
      }
      if (!rule.from) problem(`NetworkPolicy ${policy.metadata.name} admits the admin port from anywhere`);
    }
  }
  return problems;
}

/** Whether a PodDisruptionBudget keeps at least one of `replicas` pods up (Kubernetes rounds percentages up). */
function disruptionsLeaveUp(budget: { minAvailable?: number | string; maxUnavailable?: number | string }, replicas: number): boolean {
  const count = (value: number | string): number => (typeof value === 'number' ? value : Math.ceil((replicas * parseFloat(value)) / 100));
  if (budget.minAvailable !== undefined) return count(budget.minAvailable) >= 1;
  if (budget.maxUnavailable !== undefined) return count(budget.maxUnavailable) < replicas;
  return false;
}
