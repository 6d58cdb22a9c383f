/**
 * Compiles a validated configuration into the proxy's routing model, Envoy's way: filter chains by original
 * destination (listeners), route configurations with virtual hosts and routes (RDS), and cluster specs with their
 * endpoints and settings (CDS/EDS), named as Istio names them. Pure: the same configuration always gives the same
 * snapshot, which is what the admin API dumps and the golden tests compare.
 */
import { normaliseAddress } from '../transport/address';
import { DEFAULT_LIMITS, type CircuitBreakerLimits } from '../upstream/circuit-breaker';
import type { ClusterSpec } from '../upstream/cluster';
import type { EndpointSpec } from '../upstream/endpoint';
import type { HashKeySource, LoadBalancerPolicy } from '../upstream/load-balancer';
import { DEFAULT_OUTLIER, type OutlierSettings } from '../upstream/outlier-detection';
import { DEFAULT_RETRY, NO_RETRY, type RetryPolicySpec } from '../http/retry-policy';
import type { MatchSpec } from '../http/route-match';
import type { RouteConfigSpec, RouteSpec, VirtualHostSpec, WeightedClusterSpec } from '../http/route-table';
import { endpointPort, ServiceRegistry } from '../outbound/service-registry';
import type { WorkloadIdentity } from '../telemetry/events';
import { resolveProtocol, type EffectiveProtocol } from './protocol';
import { labelsMatch } from './references';
import type {
  CircuitBreakersConfig,
  ClusterSettingsConfig,
  HttpRouteConfig,
  LoadBalancerConfig,
  OutlierDetectionConfig,
  RetriesConfig,
  RouteDestinationConfig,
  RouteRuleConfig,
  ServiceConfig,
  SidelaneConfig,
} from './schema';

export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughCluster';

export const outboundClusterName = (port: number, subset: string, host: string): string => `outbound|${port}|${subset}|${host}`;
export const inboundClusterName = (port: number): string => `inbound|${port}||`;

/** How connections matching one filter chain are handled. */
export interface FilterChain {
  /** Envoy-style listener name: `198.19.0.12_9080`, `0.0.0.0_9080`, `virtualInbound`… */
  readonly listener: string;
  readonly direction: 'outbound' | 'inbound';
  readonly address: string;
  readonly port: number;
  /** Declared protocol (for views) and what the data path does. */
  readonly declaredProtocol: string;
  readonly protocol: EffectiveProtocol;
  /** HTTP and AUTO: the route configuration name. */
  readonly routeConfig?: string;
  /** TCP and AUTO: where non-HTTP connections go (weighted). */
  readonly tcp: readonly WeightedClusterSpec[];
  /** The service the original destination belongs to (fallback virtual host, destination_service). */
  readonly service?: string;
}

export interface SnapshotOptions {
  /** Inbound HTTP/TCP to the local app from the client's address (true) or 127.0.0.6 / ::6. */
  readonly preserveSource: boolean;
  /** Used where the configuration sets no defaults.connectTimeout / idleTimeout (the `run` flags). */
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly inboundPort: number;
  readonly outboundPort: number;
}

export const DEFAULT_SNAPSHOT_OPTIONS: SnapshotOptions = {
  preserveSource: true,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 3_600_000,
  inboundPort: 15006,
  outboundPort: 15001,
};

export interface ConfigSnapshot {
  readonly config: SidelaneConfig;
  readonly outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  readonly workload?: WorkloadIdentity;
  readonly protocolDetectionTimeoutMs: number;
  readonly registry: ServiceRegistry;
  /** Outbound chains keyed by `address|port` (service addresses and endpoint addresses). */
  readonly outboundByAddress: ReadonlyMap<string, FilterChain>;
  /** Outbound chains for other addresses on ports some service declares HTTP/AUTO (Istio's 0.0.0.0_<port>). */
  readonly outboundByPort: ReadonlyMap<number, FilterChain>;
  /** Everything else outbound: PassthroughCluster or BlackHoleCluster. */
  readonly outboundFallback: FilterChain;
  readonly inboundByPort: ReadonlyMap<number, FilterChain>;
  readonly inboundFallback: FilterChain;
  readonly routeConfigs: readonly RouteConfigSpec[];
  readonly clusters: readonly ClusterSpec[];
}

/** Keys of outboundByAddress. */
export function addressKey(address: string, port: number): string {
  return `${normaliseAddress(address)}|${port}`;
}

export function buildSnapshot(config: SidelaneConfig, options: SnapshotOptions = DEFAULT_SNAPSHOT_OPTIONS): ConfigSnapshot {
  return new SnapshotBuilder(config, options).build();
}

class SnapshotBuilder {
  private readonly defaults: NonNullable<SidelaneConfig['defaults']>;
  private readonly registry: ServiceRegistry;
  private readonly clusters = new Map<string, ClusterSpec>();
  private readonly policy: 'ALLOW_ANY' | 'REGISTRY_ONLY';

  constructor(
    private readonly config: SidelaneConfig,
    private readonly options: SnapshotOptions,
  ) {
    this.defaults = config.defaults ?? {};
    this.registry = new ServiceRegistry(config.services ?? []);
    this.policy = config.outboundTrafficPolicy ?? 'ALLOW_ANY';
  }

  build(): ConfigSnapshot {
    const services = this.config.services ?? [];
    const rules = this.config.routes ?? [];

    // Clusters: one per service port, one per declared subset and port (Istio's naming).
    for (const svc of services) {
      for (const p of svc.ports) {
        this.addServiceCluster(svc, p.port, '', undefined, {});
        for (const sub of svc.subsets ?? []) this.addServiceCluster(svc, p.port, sub.name, sub.labels, sub);
      }
    }

    // Route configurations: one per outbound port with an HTTP (or AUTO) service port, virtual host per service.
    const httpPorts = new Map<number, ServiceConfig[]>();
    for (const svc of services) {
      for (const p of svc.ports) {
        if (resolveProtocol(p.protocol, p.name).effective === 'TCP') continue;
        const list = httpPorts.get(p.port) ?? [];
        list.push(svc);
        httpPorts.set(p.port, list);
      }
    }
    const domainsTaken = this.shortNameOwners(services);
    const routeConfigs: RouteConfigSpec[] = [];
    for (const port of [...httpPorts.keys()].sort((a, b) => a - b)) {
      const virtualHosts: VirtualHostSpec[] = httpPorts.get(port)!.map((svc) => ({
        name: `${svc.host}:${port}`,
        domains: this.domains(svc, port, domainsTaken),
        routes: this.httpRoutes(svc, port, findRule(rules, svc.host, port)),
        service: svc.host,
      }));
      virtualHosts.push(this.catchAllVirtualHost());
      routeConfigs.push({ name: String(port), virtualHosts });
    }

    // Outbound filter chains.
    const outboundByAddress = new Map<string, FilterChain>();
    for (const [k, match] of this.registry.entries()) {
      const { service: svc, port: p, protocol } = match;
      const address = k.slice(0, k.lastIndexOf('|'));
      const rule = findRule(rules, svc.host, p.port);
      outboundByAddress.set(k, {
        listener: `${address}_${k.slice(k.lastIndexOf('|') + 1)}`,
        direction: 'outbound',
        address,
        port: Number(k.slice(k.lastIndexOf('|') + 1)),
        declaredProtocol: protocol.declared,
        protocol: protocol.effective,
        ...(protocol.effective !== 'TCP' ? { routeConfig: String(p.port) } : {}),
        tcp: this.tcpDestinations(svc, p.port, rule),
        service: svc.host,
      });
    }
    const outboundByPort = new Map<number, FilterChain>();
    for (const port of httpPorts.keys()) {
      outboundByPort.set(port, {
        listener: `0.0.0.0_${port}`,
        direction: 'outbound',
        address: '0.0.0.0',
        port,
        declaredProtocol: 'AUTO',
        protocol: 'AUTO',
        routeConfig: String(port),
        tcp: [this.fallbackDestination()],
      });
    }
    const outboundFallback: FilterChain = {
      listener: 'virtualOutbound',
      direction: 'outbound',
      address: '0.0.0.0',
      port: this.options.outboundPort,
      declaredProtocol: 'TCP',
      protocol: 'TCP',
      tcp: [this.fallbackDestination()],
    };

    // Inbound: declared ports by protocol, everything else passthrough.
    const inboundByPort = new Map<number, FilterChain>();
    for (const p of this.config.inbound?.ports ?? []) {
      const protocol = resolveProtocol(p.protocol, p.name);
      const cluster = inboundClusterName(p.port);
      this.addInboundCluster(cluster, p.port, protocol.declared, p);
      inboundByPort.set(p.port, {
        listener: 'virtualInbound',
        direction: 'inbound',
        address: '0.0.0.0',
        port: p.port,
        declaredProtocol: protocol.declared,
        protocol: protocol.effective,
        ...(protocol.effective !== 'TCP' ? { routeConfig: cluster } : {}),
        tcp: [{ cluster, weight: 1 }],
      });
      if (protocol.effective !== 'TCP') {
        routeConfigs.push({
          name: cluster,
          virtualHosts: [
            {
              name: `inbound|http|${p.port}`,
              domains: ['*'],
              routes: [
                {
                  name: 'default',
                  match: [],
                  origin: 'default',
                  action: { kind: 'route', clusters: [{ cluster, weight: 1 }], timeoutMs: p.timeout ?? 0, retry: NO_RETRY },
                },
              ],
            },
          ],
        });
      }
    }
    this.addInboundCluster(INBOUND_PASSTHROUGH_CLUSTER, undefined, 'TCP', {});
    const inboundFallback: FilterChain = {
      listener: 'virtualInbound',
      direction: 'inbound',
      address: '0.0.0.0',
      port: this.options.inboundPort,
      declaredProtocol: 'TCP',
      protocol: 'TCP',
      tcp: [{ cluster: INBOUND_PASSTHROUGH_CLUSTER, weight: 1 }],
    };

    this.addSpecial();
    const workload = this.config.workload;
    return {
      config: this.config,
      outboundTrafficPolicy: this.policy,
      ...(workload ? { workload } : {}),
      protocolDetectionTimeoutMs: this.defaults.protocolDetectionTimeout ?? 100,
      registry: this.registry,
      outboundByAddress,
      outboundByPort,
      outboundFallback,
      inboundByPort,
      inboundFallback,
      routeConfigs,
      clusters: [...this.clusters.values()],
    };
  }

  // ------------------------------------------------------------------------------------------------ clusters

  private addServiceCluster(
    svc: ServiceConfig,
    port: number,
    subset: string,
    labels: Readonly<Record<string, string>> | undefined,
    overrides: ClusterSettingsConfig,
  ): string {
    const name = outboundClusterName(port, subset, svc.host);
    if (this.clusters.has(name)) return name;
    const sp = svc.ports.find((p) => p.port === port)!;
    const endpoints: EndpointSpec[] = (svc.endpoints ?? [])
      .filter((ep) => labels === undefined || labelsMatch(labels, ep.labels))
      .map((ep) => ({ address: normaliseAddress(ep.address), port: endpointPort(svc, sp, ep), labels: ep.labels ?? {}, weight: ep.weight ?? 1 }));
    const s = mergeSettings(this.defaults, svc, overrides);
    this.clusters.set(name, {
      name,
      type: 'EDS',
      direction: 'outbound',
      service: svc.host,
      port,
      ...(subset !== '' ? { subset } : {}),
      ...(labels !== undefined ? { subsetLabels: labels } : {}),
      protocol: resolveProtocol(sp.protocol, sp.name).declared,
      endpoints,
      loadBalancer: loadBalancerPolicy(s.loadBalancer),
      connectTimeoutMs: s.connectTimeout ?? this.options.connectTimeoutMs,
      idleTimeoutMs: s.idleTimeout ?? this.options.idleTimeoutMs,
      maxRequestsPerConnection: s.maxRequestsPerConnection ?? 0,
      circuitBreakers: circuitBreakerLimits(s.circuitBreakers),
      ...(s.outlierDetection !== undefined ? { outlierDetection: outlierSettings(s.outlierDetection) } : {}),
      sourceMode: 'none',
    });
    return name;
  }

  private addInboundCluster(
    name: string,
    port: number | undefined,
    protocol: string,
    settings: { connectTimeout?: number; idleTimeout?: number; circuitBreakers?: CircuitBreakersConfig },
  ): void {
    this.clusters.set(name, {
      name,
      type: 'ORIGINAL_DST',
      direction: 'inbound',
      ...(port !== undefined ? { port } : {}),
      protocol,
      endpoints: [],
      loadBalancer: { policy: 'ROUND_ROBIN' },
      connectTimeoutMs: settings.connectTimeout ?? this.defaults.connectTimeout ?? this.options.connectTimeoutMs,
      idleTimeoutMs: settings.idleTimeout ?? this.defaults.idleTimeout ?? this.options.idleTimeoutMs,
      maxRequestsPerConnection: 0,
      circuitBreakers: circuitBreakerLimits(settings.circuitBreakers),
      sourceMode: this.options.preserveSource ? 'client' : 'inbound-passthrough',
    });
  }

  private addSpecial(): void {
    const common = {
      direction: 'outbound' as const,
      protocol: 'TCP',
      endpoints: [],
      loadBalancer: { policy: 'ROUND_ROBIN' as const },
      connectTimeoutMs: this.defaults.connectTimeout ?? this.options.connectTimeoutMs,
      idleTimeoutMs: this.defaults.idleTimeout ?? this.options.idleTimeoutMs,
      maxRequestsPerConnection: 0,
      circuitBreakers: DEFAULT_LIMITS,
      sourceMode: 'none' as const,
    };
    this.clusters.set(PASSTHROUGH_CLUSTER, { name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', ...common });
    this.clusters.set(BLACKHOLE_CLUSTER, { name: BLACKHOLE_CLUSTER, type: 'STATIC', ...common });
  }

  private fallbackDestination(): WeightedClusterSpec {
    return { cluster: this.policy === 'ALLOW_ANY' ? PASSTHROUGH_CLUSTER : BLACKHOLE_CLUSTER, weight: 1 };
  }

  // ------------------------------------------------------------------------------------------------ routes

  private catchAllVirtualHost(): VirtualHostSpec {
    if (this.policy === 'ALLOW_ANY') {
      return {
        name: 'allow_any',
        domains: ['*'],
        routes: [
          {
            name: 'allow_any',
            match: [],
            origin: 'outboundTrafficPolicy',
            action: { kind: 'route', clusters: [{ cluster: PASSTHROUGH_CLUSTER, weight: 1 }], timeoutMs: 0, retry: NO_RETRY },
          },
        ],
      };
    }
    return {
      name: 'block_all',
      domains: ['*'],
      routes: [{ name: 'block_all', match: [], origin: 'outboundTrafficPolicy', action: { kind: 'direct', status: 502, body: '' } }],
    };
  }

  /** Short names (`reviews`, `reviews.default`) shared by several services are given to none. */
  private shortNameOwners(services: readonly ServiceConfig[]): Map<string, string | null> {
    const owners = new Map<string, string | null>();
    for (const svc of services) {
      for (const name of shortNames(svc.host, this.config.workload?.namespace)) {
        owners.set(name, owners.has(name) && owners.get(name) !== svc.host ? null : svc.host);
      }
    }
    return owners;
  }

  /** Istio's domains for a service port: FQDN, short names, addresses — each with and without `:port`. */
  private domains(svc: ServiceConfig, port: number, owners: ReadonlyMap<string, string | null>): string[] {
    const names = [svc.host, ...shortNames(svc.host, this.config.workload?.namespace).filter((n) => owners.get(n) === svc.host)];
    for (const a of svc.addresses ?? []) names.push(a.includes(':') ? `[${a}]` : a);
    const out: string[] = [];
    for (const n of names) out.push(n, `${n}:${port}`);
    return out;
  }

  private httpRoutes(svc: ServiceConfig, port: number, rule: { rule: RouteRuleConfig; index: number } | undefined): RouteSpec[] {
    const timeoutMs = this.defaults.timeout ?? 0;
    const retry = retrySpec(this.defaults.retries);
    if (rule?.rule.http === undefined) {
      return [
        {
          name: 'default',
          match: [],
          origin: 'default',
          action: { kind: 'route', clusters: [{ cluster: outboundClusterName(port, '', svc.host), weight: 1, service: svc.host }], timeoutMs, retry },
        },
      ];
    }
    return rule.rule.http.map((r: HttpRouteConfig, i) => ({
      ...(r.name !== undefined ? { name: r.name } : {}),
      match: (r.match ?? []).map(matchSpec),
      origin: `routes[${rule.index}].http[${i}]`,
      action: {
        kind: 'route' as const,
        clusters: this.destinations(r.route, svc.host, port),
        timeoutMs: r.timeout ?? timeoutMs,
        retry: r.retries !== undefined ? retrySpec(r.retries) : retry,
      },
    }));
  }

  private tcpDestinations(svc: ServiceConfig, port: number, rule: { rule: RouteRuleConfig; index: number } | undefined): WeightedClusterSpec[] {
    const tcp = rule?.rule.tcp?.[0];
    if (tcp === undefined) return [{ cluster: outboundClusterName(port, '', svc.host), weight: 1, service: svc.host }];
    return this.destinations(tcp.route, svc.host, port);
  }

  /** Route destinations → weighted clusters, creating label-selected subset clusters on demand. */
  private destinations(route: readonly RouteDestinationConfig[], ruleHost: string, rulePort: number): WeightedClusterSpec[] {
    const equal = route.every((d) => d.weight === undefined);
    return route.map((d) => {
      const dest = d.destination ?? d;
      const host = dest.host ?? ruleHost;
      const svc = this.registry.service(host)!;
      const port = dest.port ?? (svc.ports.some((p) => p.port === rulePort) ? rulePort : svc.ports[0]!.port);
      let subset = '';
      if (typeof dest.subset === 'string') {
        subset = dest.subset;
      } else if (dest.subset !== undefined) {
        const labels = dest.subset;
        const declared = (svc.subsets ?? []).find((s) => sameLabels(s.labels, labels));
        if (declared) {
          subset = declared.name;
        } else {
          subset = Object.keys(labels).sort().map((k) => labels[k]).join('-');
          this.addServiceCluster(svc, port, subset, labels, {});
        }
      }
      return {
        cluster: outboundClusterName(port, subset, host),
        weight: equal ? 1 : d.weight!,
        service: host,
        ...(subset !== '' ? { subset } : {}),
      };
    });
  }
}

function findRule(rules: readonly RouteRuleConfig[], host: string, port: number): { rule: RouteRuleConfig; index: number } | undefined {
  let wildcard: { rule: RouteRuleConfig; index: number } | undefined;
  for (let index = 0; index < rules.length; index++) {
    const rule = rules[index]!;
    if (rule.host !== host) continue;
    if (rule.port === port) return { rule, index };
    if (rule.port === undefined) wildcard ??= { rule, index };
  }
  return wildcard;
}

/**
 * Kubernetes short names a client may use: `reviews.default.svc`, `reviews.default`, and `reviews` only from the
 * same namespace (when the workload's namespace is known), as Istio generates them.
 */
function shortNames(host: string, namespace: string | undefined): string[] {
  const m = /^([^.]+)\.([^.]+)\.svc\.(.+)$/.exec(host);
  if (!m) return [];
  const [, name, ns] = m;
  const out = [`${name}.${ns}.svc`, `${name}.${ns}`];
  if (namespace === undefined || namespace === ns) out.push(name!);
  return out;
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

function matchSpec(m: NonNullable<HttpRouteConfig['match']>[number]): MatchSpec {
  return {
    ...(m.uri ? { uri: m.uri as MatchSpec['uri'] } : {}),
    ...(m.method ? { method: m.method as MatchSpec['method'] } : {}),
    ...(m.authority ? { authority: m.authority as MatchSpec['authority'] } : {}),
    ...(m.headers ? { headers: m.headers as MatchSpec['headers'] } : {}),
    ...(m.queryParams ? { queryParams: m.queryParams as MatchSpec['queryParams'] } : {}),
  };
}

function mergeSettings(...layers: readonly ClusterSettingsConfig[]): ClusterSettingsConfig {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      if (k === 'circuitBreakers' || k === 'outlierDetection') out[k] = { ...(out[k] as object | undefined), ...(v as object) };
      else if (k === 'loadBalancer' || k === 'connectTimeout' || k === 'idleTimeout' || k === 'maxRequestsPerConnection') out[k] = v;
    }
  }
  return out as ClusterSettingsConfig;
}

export function loadBalancerPolicy(lb: LoadBalancerConfig | undefined): LoadBalancerPolicy {
  if (lb === undefined) return { policy: 'LEAST_REQUEST' }; // Istio's default
  if (typeof lb === 'string') return { policy: lb };
  if ('simple' in lb) return { policy: lb.simple };
  const h = lb.consistentHash;
  const hashKey: HashKeySource =
    h.httpHeaderName !== undefined
      ? { kind: 'header', name: h.httpHeaderName.toLowerCase() }
      : h.httpQueryParameterName !== undefined
        ? { kind: 'query', name: h.httpQueryParameterName }
        : { kind: 'sourceIp' };
  return { policy: 'RING_HASH', hashKey, minimumRingSize: h.minimumRingSize ?? 1024 };
}

export function circuitBreakerLimits(c: CircuitBreakersConfig | undefined): CircuitBreakerLimits {
  if (c === undefined) return DEFAULT_LIMITS;
  return {
    maxConnections: c.maxConnections ?? DEFAULT_LIMITS.maxConnections,
    maxPendingRequests: c.maxPendingRequests ?? DEFAULT_LIMITS.maxPendingRequests,
    maxRequests: c.maxRequests ?? DEFAULT_LIMITS.maxRequests,
    maxRetries: c.maxRetries ?? DEFAULT_LIMITS.maxRetries,
    ...(c.retryBudget !== undefined
      ? { retryBudget: { budgetPercent: c.retryBudget.budgetPercent ?? 20, minRetryConcurrency: c.retryBudget.minRetryConcurrency ?? 3 } }
      : {}),
  };
}

export function outlierSettings(o: OutlierDetectionConfig): OutlierSettings {
  return {
    consecutive5xx: o.consecutive5xxErrors ?? DEFAULT_OUTLIER.consecutive5xx,
    consecutiveGateway: o.consecutiveGatewayErrors ?? DEFAULT_OUTLIER.consecutiveGateway,
    intervalMs: o.interval ?? DEFAULT_OUTLIER.intervalMs,
    baseEjectionMs: o.baseEjectionTime ?? DEFAULT_OUTLIER.baseEjectionMs,
    maxEjectionMs: o.maxEjectionTime ?? DEFAULT_OUTLIER.maxEjectionMs,
    maxEjectionPercent: o.maxEjectionPercent ?? DEFAULT_OUTLIER.maxEjectionPercent,
  };
}

export function retrySpec(r: RetriesConfig | undefined): RetryPolicySpec {
  if (r === undefined) return DEFAULT_RETRY;
  return {
    attempts: r.attempts,
    perTryTimeoutMs: r.perTryTimeout ?? 0,
    retryOn: r.retryOn ?? DEFAULT_RETRY.retryOn,
    retriableStatusCodes: r.retriableStatusCodes ?? [],
    backoffBaseMs: r.backoff?.baseInterval ?? DEFAULT_RETRY.backoffBaseMs,
    backoffMaxMs: r.backoff?.maxInterval ?? (r.backoff?.baseInterval !== undefined ? r.backoff.baseInterval * 10 : DEFAULT_RETRY.backoffMaxMs),
  };
}
