/**
 * The configuration dump (Envoy's /config_dump, simplified): the applied configuration's listeners with their filter
 * chains, route configurations, clusters and their endpoints, plus where it came from. A pure function of the
 * snapshot, so it is golden-tested; `sidelane proxy-config` renders its tables from it.
 */
import type { ClusterSpec } from '../upstream/cluster';
import type { RouteConfigSpec, WeightedClusterSpec } from '../http/route-table';
import type { ConfigSnapshot, FilterChain } from '../config/snapshot';
import type { WorkloadIdentity } from '../telemetry/events';

export interface FilterChainDump {
  /** istioctl's MATCH column: `ALL`, `App: http/1.1`, `Addr: *:9080`, … */
  readonly match: string;
  /** istioctl's DESTINATION column: `Route: 9080`, `Cluster: outbound|…`, `PassthroughCluster`, … */
  readonly destination: string;
  readonly protocol: string;
  readonly routeConfig?: string;
  readonly clusters?: readonly WeightedClusterSpec[];
  readonly service?: string;
}

export interface ListenerDump {
  readonly name: string;
  readonly direction: 'outbound' | 'inbound';
  readonly address: string;
  readonly port: number;
  /** Why the listener exists: `virtual` (the captured port), `service` (a service address), `endpoint`, `port`. */
  readonly kind: 'virtual' | 'service' | 'endpoint' | 'port';
  readonly filterChains: readonly FilterChainDump[];
}

export interface BootstrapDump {
  readonly '@type': 'sidelane.admin.BootstrapConfigDump';
  readonly version: number;
  readonly source: string;
  readonly appliedAt?: string;
  readonly outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  readonly protocolDetectionTimeoutMs: number;
  readonly workload?: WorkloadIdentity;
  readonly lastRefused?: { readonly message: string; readonly at: string; readonly source: string };
}

export interface ConfigDump {
  readonly configs: readonly [
    BootstrapDump,
    { readonly '@type': 'sidelane.admin.ListenersConfigDump'; readonly listeners: readonly ListenerDump[] },
    { readonly '@type': 'sidelane.admin.RoutesConfigDump'; readonly routeConfigs: readonly RouteConfigSpec[] },
    { readonly '@type': 'sidelane.admin.ClustersConfigDump'; readonly clusters: readonly ClusterSpec[] },
  ];
}

export interface DumpMeta {
  readonly version: number;
  readonly source: string;
  readonly appliedAt?: Date;
  readonly lastRefused?: { readonly message: string; readonly at: Date; readonly source: string };
}

export function configDump(snapshot: ConfigSnapshot, meta: DumpMeta): ConfigDump {
  return {
    configs: [
      {
        '@type': 'sidelane.admin.BootstrapConfigDump',
        version: meta.version,
        source: meta.source,
        ...(meta.appliedAt ? { appliedAt: meta.appliedAt.toISOString() } : {}),
        outboundTrafficPolicy: snapshot.outboundTrafficPolicy,
        protocolDetectionTimeoutMs: snapshot.protocolDetectionTimeoutMs,
        ...(snapshot.workload ? { workload: snapshot.workload } : {}),
        ...(meta.lastRefused
          ? { lastRefused: { message: meta.lastRefused.message, at: meta.lastRefused.at.toISOString(), source: meta.lastRefused.source } }
          : {}),
      },
      { '@type': 'sidelane.admin.ListenersConfigDump', listeners: listenersDump(snapshot) },
      { '@type': 'sidelane.admin.RoutesConfigDump', routeConfigs: snapshot.routeConfigs },
      { '@type': 'sidelane.admin.ClustersConfigDump', clusters: snapshot.clusters },
    ],
  };
}

function destinationOf(clusters: readonly WeightedClusterSpec[]): string {
  if (clusters.length === 1) {
    const c = clusters[0]!.cluster;
    return c.includes('|') ? `Cluster: ${c}` : c;
  }
  const total = clusters.reduce((s, c) => s + c.weight, 0);
  return `WeightedClusters: ${clusters.map((c) => `${c.cluster} (${Math.round((100 * c.weight) / total)}%)`).join(', ')}`;
}

function chainDumps(chain: FilterChain, inboundMatch?: string): FilterChainDump[] {
  const out: FilterChainDump[] = [];
  const prefix = inboundMatch !== undefined ? `${inboundMatch}; ` : '';
  if (chain.protocol !== 'TCP' && chain.routeConfig !== undefined) {
    out.push({
      match: `${prefix}App: http/1.1`,
      destination: `${chain.direction === 'inbound' ? 'Inline Route' : 'Route'}: ${chain.routeConfig}`,
      protocol: chain.protocol === 'AUTO' ? 'AUTO (http)' : chain.declaredProtocol,
      routeConfig: chain.routeConfig,
      ...(chain.service !== undefined ? { service: chain.service } : {}),
    });
  }
  if (chain.protocol !== 'HTTP') {
    out.push({
      match: inboundMatch ?? 'ALL',
      destination: destinationOf(chain.tcp),
      protocol: chain.protocol === 'AUTO' ? 'AUTO (tcp)' : chain.declaredProtocol,
      clusters: chain.tcp,
      ...(chain.service !== undefined ? { service: chain.service } : {}),
    });
  }
  return out;
}

export function listenersDump(snapshot: ConfigSnapshot): ListenerDump[] {
  const out: ListenerDump[] = [];
  const fb = snapshot.outboundFallback;
  out.push({ name: 'virtualOutbound', direction: 'outbound', address: fb.address, port: fb.port, kind: 'virtual', filterChains: chainDumps(fb) });
  const byAddress = [...snapshot.outboundByAddress.values()].sort((a, b) => a.port - b.port || compareAddresses(a.address, b.address));
  for (const chain of byAddress) {
    const match = snapshot.registry.lookup(chain.address, chain.port);
    out.push({
      name: chain.listener,
      direction: 'outbound',
      address: chain.address,
      port: chain.port,
      kind: match?.via === 'endpoint' ? 'endpoint' : 'service',
      filterChains: chainDumps(chain),
    });
  }
  for (const chain of [...snapshot.outboundByPort.values()].sort((a, b) => a.port - b.port)) {
    out.push({ name: chain.listener, direction: 'outbound', address: chain.address, port: chain.port, kind: 'port', filterChains: chainDumps(chain) });
  }
  const inbound: FilterChainDump[] = [];
  for (const chain of [...snapshot.inboundByPort.values()].sort((a, b) => a.port - b.port)) inbound.push(...chainDumps(chain, `Addr: *:${chain.port}`));
  inbound.push(...chainDumps(snapshot.inboundFallback));
  const ib = snapshot.inboundFallback;
  out.push({ name: 'virtualInbound', direction: 'inbound', address: ib.address, port: ib.port, kind: 'virtual', filterChains: inbound });
  return out;
}

/** Numeric order for IPv4 (198.18.0.9 before 198.18.0.10), then IPv6 text order. */
export function compareAddresses(a: string, b: string): number {
  const pa = a.split('.');
  const pb = b.split('.');
  if (pa.length === 4 && pb.length === 4) {
    for (let i = 0; i < 4; i++) {
      const d = Number(pa[i]) - Number(pb[i]);
      if (d !== 0) return d;
    }
    return 0;
  }
  if (pa.length === 4) return -1;
  if (pb.length === 4) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
