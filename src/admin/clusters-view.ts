/**
 * The live cluster view (Envoy's /clusters): every cluster's circuit-breaker thresholds and counters, and every
 * endpoint's counters and health (`healthy` or `/failed_outlier_check`), as Envoy's `cluster::host::stat::value`
 * text lines or as JSON (`?format=json`).
 */
import type { Cluster } from '../upstream/cluster';
import type { Endpoint } from '../upstream/endpoint';

export interface HostStatusJson {
  readonly address: { readonly socket_address: { readonly address: string; readonly port_value: number } };
  readonly source_address?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
  readonly health_status: { readonly eds_health_status: 'HEALTHY'; readonly failed_outlier_check?: true };
  readonly ejections_total: number;
  readonly stats: Record<string, number>;
}

export interface ClusterStatusJson {
  readonly name: string;
  readonly type: string;
  readonly direction: string;
  readonly service?: string;
  readonly port?: number;
  readonly subset?: string;
  readonly protocol: string;
  readonly load_balancer: string;
  readonly circuit_breakers: {
    readonly max_connections: number;
    readonly max_pending_requests: number;
    readonly max_requests: number;
    readonly max_retries: number;
    readonly retry_budget?: { readonly budget_percent: number; readonly min_retry_concurrency: number };
  };
  readonly outlier_detection?: Record<string, number>;
  readonly stats: Record<string, number>;
  readonly host_statuses: readonly HostStatusJson[];
}

function hostJson(ep: Endpoint): HostStatusJson {
  return {
    address: { socket_address: { address: ep.address.address, port_value: ep.address.port } },
    ...(ep.source !== undefined ? { source_address: ep.source } : {}),
    labels: ep.labels,
    weight: ep.weight,
    health_status: { eds_health_status: 'HEALTHY', ...(ep.ejected ? { failed_outlier_check: true as const } : {}) },
    ejections_total: ep.timesEjected,
    stats: ep.stats.toJSON(),
  };
}

export function clusterJson(c: Cluster): ClusterStatusJson {
  const spec = c.spec;
  const cb = spec.circuitBreakers;
  const od = spec.outlierDetection;
  return {
    name: c.name,
    type: spec.type,
    direction: spec.direction,
    ...(spec.service !== undefined ? { service: spec.service } : {}),
    ...(spec.port !== undefined ? { port: spec.port } : {}),
    ...(spec.subset !== undefined ? { subset: spec.subset } : {}),
    protocol: spec.protocol,
    load_balancer: spec.loadBalancer.policy,
    circuit_breakers: {
      max_connections: cb.maxConnections,
      max_pending_requests: cb.maxPendingRequests,
      max_requests: cb.maxRequests,
      max_retries: cb.maxRetries,
      ...(cb.retryBudget ? { retry_budget: { budget_percent: cb.retryBudget.budgetPercent, min_retry_concurrency: cb.retryBudget.minRetryConcurrency } } : {}),
    },
    ...(od
      ? {
          outlier_detection: {
            consecutive_5xx: od.consecutive5xx,
            consecutive_gateway_failure: od.consecutiveGateway,
            interval_ms: od.intervalMs,
            base_ejection_time_ms: od.baseEjectionMs,
            max_ejection_time_ms: od.maxEjectionMs,
            max_ejection_percent: od.maxEjectionPercent,
          },
        }
      : {}),
    stats: { ...c.stats.toJSON(), active_retries: c.activeRetries },
    host_statuses: c.endpoints.all.map(hostJson),
  };
}

export function clustersJson(clusters: Iterable<Cluster>): { cluster_statuses: ClusterStatusJson[] } {
  return { cluster_statuses: [...clusters].map(clusterJson) };
}

/** Envoy's text format: `name::default_priority::max_connections::N`, `name::ip:port::cx_active::N`, … */
export function clustersText(clusters: Iterable<Cluster>): string {
  return clustersTextFromJson(clustersJson(clusters).cluster_statuses);
}

/** The text format from the JSON view (also used for views merged across worker processes). */
export function clustersTextFromJson(statuses: readonly ClusterStatusJson[]): string {
  const lines: string[] = [];
  for (const c of statuses) {
    const n = c.name;
    const cb = c.circuit_breakers;
    lines.push(`${n}::observability_name::${n}`);
    lines.push(`${n}::default_priority::max_connections::${cb.max_connections}`);
    lines.push(`${n}::default_priority::max_pending_requests::${cb.max_pending_requests}`);
    lines.push(`${n}::default_priority::max_requests::${cb.max_requests}`);
    lines.push(`${n}::default_priority::max_retries::${cb.max_retries}`);
    for (const [k, v] of Object.entries(c.stats)) if (k !== 'active_retries') lines.push(`${n}::${k}::${v}`);
    for (const ep of c.host_statuses) {
      const sa = ep.address.socket_address;
      const hostPort = sa.address.includes(':') ? `[${sa.address}]:${sa.port_value}` : `${sa.address}:${sa.port_value}`;
      const h = ep.source_address !== undefined ? `${hostPort}|${ep.source_address}` : hostPort;
      for (const [k, v] of Object.entries(ep.stats)) lines.push(`${n}::${h}::${k}::${v}`);
      lines.push(`${n}::${h}::health_flags::${ep.health_status.failed_outlier_check ? '/failed_outlier_check' : 'healthy'}`);
      lines.push(`${n}::${h}::weight::${ep.weight}`);
      for (const [k, v] of Object.entries(ep.labels)) lines.push(`${n}::${h}::label::${k}=${v}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function sumInto(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/**
 * Merges the cluster views of several worker processes (same configuration, separate counters and outlier
 * state): counters are summed; an endpoint is shown as failing its outlier check when any worker ejected it.
 */
export function mergeClusterViews(views: readonly (readonly ClusterStatusJson[])[]): ClusterStatusJson[] {
  const byName = new Map<string, ClusterStatusJson & { stats: Record<string, number>; host_statuses: HostStatusJson[] }>();
  for (const view of views) {
    for (const c of view) {
      const existing = byName.get(c.name);
      if (!existing) {
        byName.set(c.name, {
          ...c,
          stats: { ...c.stats },
          host_statuses: c.host_statuses.map((h) => ({ ...h, stats: { ...h.stats }, health_status: { ...h.health_status } })),
        });
        continue;
      }
      sumInto(existing.stats, c.stats);
      for (const h of c.host_statuses) {
        const key = (x: HostStatusJson): string => `${x.address.socket_address.address}|${x.address.socket_address.port_value}|${x.source_address ?? ''}`;
        const idx = existing.host_statuses.findIndex((x) => key(x) === key(h));
        if (idx < 0) {
          existing.host_statuses.push({ ...h, stats: { ...h.stats } });
          continue;
        }
        const e = existing.host_statuses[idx]!;
        const stats = { ...e.stats };
        sumInto(stats, h.stats);
        existing.host_statuses[idx] = {
          ...e,
          stats,
          ejections_total: e.ejections_total + h.ejections_total,
          health_status: e.health_status.failed_outlier_check || h.health_status.failed_outlier_check ? { eds_health_status: 'HEALTHY', failed_outlier_check: true } : e.health_status,
        };
      }
    }
  }
  return [...byName.values()];
}
