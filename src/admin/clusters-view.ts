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
  const lines: string[] = [];
  for (const c of clusters) {
    const n = c.name;
    const cb = c.spec.circuitBreakers;
    lines.push(`${n}::observability_name::${n}`);
    lines.push(`${n}::default_priority::max_connections::${cb.maxConnections}`);
    lines.push(`${n}::default_priority::max_pending_requests::${cb.maxPendingRequests}`);
    lines.push(`${n}::default_priority::max_requests::${cb.maxRequests}`);
    lines.push(`${n}::default_priority::max_retries::${cb.maxRetries}`);
    for (const [k, v] of Object.entries(c.stats.toJSON())) lines.push(`${n}::${k}::${v}`);
    for (const ep of c.endpoints.all) {
      const h = ep.source !== undefined ? `${ep.hostPort}|${ep.source}` : ep.hostPort;
      for (const [k, v] of Object.entries(ep.stats.toJSON())) lines.push(`${n}::${h}::${k}::${v}`);
      lines.push(`${n}::${h}::health_flags::${ep.healthFlags}`);
      lines.push(`${n}::${h}::weight::${ep.weight}`);
      for (const [k, v] of Object.entries(ep.labels)) lines.push(`${n}::${h}::label::${k}=${v}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
