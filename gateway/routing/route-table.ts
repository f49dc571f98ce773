import type { DeploymentSpec, GatehouseConfig, Timeouts } from '../config/schema';
import { GrpcUpstreamSet } from '../grpc/grpc-upstream-set';
import { UpstreamSet } from './upstream-set';

/** A Deployment with everything per-request code needs, built once at load. */
export interface Route {
  readonly spec: DeploymentSpec;
  readonly name: string;
  readonly configManaged: boolean;
  readonly timeouts: Timeouts;
  /** HTTP upstreams (undici pools); gRPC Deployments use `grpcUpstreams` built by the gRPC forwarder. */
  readonly upstreams: UpstreamSet;
  /** gRPC upstreams (one pooled HTTP/2 session each); only for `protocol: grpc` Deployments. */
  readonly grpcUpstreams: GrpcUpstreamSet | undefined;
}

/** What may follow the host in a Host / :authority value. */
const PORT = /^:\d{0,5}$/;

/** host (lower-case, no port) -> Route; rebuilt on reload and on Deployment changes. */
export class RouteTable {
  private readonly byHost = new Map<string, Route>();
  private readonly byName = new Map<string, Route>();

  constructor(config: GatehouseConfig, stored: readonly DeploymentSpec[], previous?: RouteTable) {
    const suffix = `.${config.organization}.${config.domain}`;
    const add = (spec: DeploymentSpec, configManaged: boolean): void => {
      if (this.byName.has(spec.name)) return;
      const timeouts = { ...config.timeouts, ...spec.timeouts };
      const reused = previous?.reusableRoute(spec, timeouts);
      const grpcUpstreams = spec.protocol === 'grpc' ? reused?.grpcUpstreams ?? new GrpcUpstreamSet(spec.upstreams, timeouts) : undefined;
      const route: Route = { spec, name: spec.name, configManaged, timeouts, upstreams: reused?.upstreams ?? new UpstreamSet(spec.upstreams, timeouts), grpcUpstreams };
      this.byName.set(spec.name, route);
      for (const host of [spec.name + suffix, ...spec.hosts]) {
        if (!this.byHost.has(host)) this.byHost.set(host, route);
      }
    };
    // Config-managed Deployments win over stored ones of the same name.
    for (const spec of config.deployments) add(spec, true);
    for (const spec of stored) add(spec, false);
  }

  /** Looks up a Host / :authority value: case-insensitive, port ignored. */
  lookup(authority: string | undefined): Route | undefined {
    if (!authority) return undefined;
    let host = authority;
    let port = '';
    if (host.charCodeAt(0) === 0x5b /* [ */) {
      const end = host.indexOf(']');
      if (end === -1) return undefined;
      port = host.slice(end + 1);
      host = host.slice(0, end + 1);
    } else {
      const colon = host.indexOf(':');
      if (colon !== -1) {
        port = host.slice(colon);
        host = host.slice(0, colon);
      }
    }
    // The port is ignored, but `host:abc` is not a Host (RFC 9110 §7.2), so it names nothing.
    if (port !== '' && !PORT.test(port)) return undefined;
    if (host.endsWith('.')) host = host.slice(0, -1);
    const exact = this.byHost.get(host) ?? this.byHost.get(host.toLowerCase());
    if (exact !== undefined) return exact;
    // `*.example.com` in hosts: stands for exactly one more label, as in a TLS certificate.
    const dot = host.indexOf('.');
    return dot > 0 ? this.byHost.get(`*${host.slice(dot).toLowerCase()}`) : undefined;
  }

  get(name: string): Route | undefined {
    return this.byName.get(name);
  }

  routes(): IterableIterator<Route> {
    return this.byName.values();
  }

  /** The old route whose pools (and warm connections) can be kept: its upstreams and timeouts did not change. */
  private reusableRoute(spec: DeploymentSpec, timeouts: Timeouts): Route | undefined {
    const old = this.byName.get(spec.name);
    if (!old) return undefined;
    const same = old.upstreams.origins.length === spec.upstreams.length
      && old.upstreams.origins.every((o, i) => o === spec.upstreams[i])
      && old.timeouts.connect === timeouts.connect && old.timeouts.response === timeouts.response && old.timeouts.idle === timeouts.idle;
    return same ? old : undefined;
  }

  /** Closes the pools the next table no longer uses. */
  retire(next: RouteTable): void {
    const kept = new Set<UpstreamSet | GrpcUpstreamSet>();
    for (const route of next.routes()) {
      kept.add(route.upstreams);
      if (route.grpcUpstreams) kept.add(route.grpcUpstreams);
    }
    for (const route of this.routes()) {
      if (!kept.has(route.upstreams)) void route.upstreams.close();
      if (route.grpcUpstreams && !kept.has(route.grpcUpstreams)) route.grpcUpstreams.close();
    }
  }
}
