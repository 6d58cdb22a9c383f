/**
 * What `sidelane proxy-config listeners|routes|clusters|endpoints` prints: istioctl proxy-config's tables (or the
 * matching JSON), filtered, rendered from the admin API's /config_dump and /clusters?format=json. Pure functions of
 * that data, golden-tested.
 */
import type { MatchSpec, HeaderMatchSpec } from '../http/route-match';
import type { RouteConfigSpec, RouteSpec } from '../http/route-table';
import type { ClusterSpec } from '../upstream/cluster';
import type { ClusterStatusJson } from './clusters-view';
import { compareAddresses, type ConfigDump, type ListenerDump } from './config-dump';

export interface ListenerFilters {
  readonly port?: number;
  readonly address?: string;
  readonly direction?: 'inbound' | 'outbound';
}
export interface RouteFilters {
  readonly name?: string;
}
export interface ClusterFilters {
  readonly fqdn?: string;
  readonly port?: number;
  readonly subset?: string;
  readonly direction?: 'inbound' | 'outbound';
}
export interface EndpointFilters {
  readonly cluster?: string;
  readonly port?: number;
  readonly address?: string;
  readonly status?: 'healthy' | 'unhealthy';
}

/** Columns padded like Go's tabwriter (istioctl's look): each column as wide as its widest cell, 3 spaces apart. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function dumpParts(dump: ConfigDump): {
  listeners: readonly ListenerDump[];
  routes: readonly RouteConfigSpec[];
  clusters: readonly ClusterSpec[];
} {
  return { listeners: dump.configs[1].listeners, routes: dump.configs[2].routeConfigs, clusters: dump.configs[3].clusters };
}

// ---------------------------------------------------------------------------------------------------- listeners

export function filterListeners(dump: ConfigDump, f: ListenerFilters): ListenerDump[] {
  return dumpParts(dump).listeners.filter(
    (l) =>
      (f.port === undefined || l.port === f.port || l.filterChains.some((c) => c.match.includes(`*:${f.port}`))) &&
      (f.address === undefined || l.address === f.address) &&
      (f.direction === undefined || l.direction === f.direction),
  );
}

export function listenersTable(dump: ConfigDump, f: ListenerFilters): string {
  // One row per filter chain; rows that differ only by address (endpoints of one service) share a row, as istioctl's.
  const grouped = new Map<string, { addresses: string[]; port: number; match: string; destination: string }>();
  for (const l of filterListeners(dump, f)) {
    for (const c of l.filterChains) {
      if (f.port !== undefined && l.kind === 'virtual' && l.direction === 'inbound' && !c.match.includes(`*:${f.port}`) && l.port !== f.port) continue;
      const key = `${l.port}|${c.match}|${c.destination}|${l.kind === 'endpoint' ? 'ep' : l.address}`;
      const row = grouped.get(key);
      if (row) row.addresses.push(l.address);
      else grouped.set(key, { addresses: [l.address], port: l.port, match: c.match, destination: c.destination });
    }
  }
  const rows = [...grouped.values()]
    .sort((a, b) => a.port - b.port || compareAddresses(a.addresses[0]!, b.addresses[0]!) || (a.match < b.match ? -1 : a.match > b.match ? 1 : 0))
    .map((r) => [r.addresses.join(','), String(r.port), r.match, r.destination]);
  return renderTable(['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'], rows);
}

// ---------------------------------------------------------------------------------------------------- routes

export function filterRoutes(dump: ConfigDump, f: RouteFilters): RouteConfigSpec[] {
  return dumpParts(dump).routes.filter((r) => f.name === undefined || r.name === f.name);
}

function describeString(m: HeaderMatchSpec): string {
  if ('exact' in m) return `=${m.exact}`;
  if ('prefix' in m) return `^${m.prefix}`;
  if ('regex' in m) return `~${m.regex}`;
  return m.present ? ' present' : ' absent';
}

/** istioctl-like: `/*`, `/api*`, `/exact`, `~regex`, then other conditions. */
export function describeMatch(m: MatchSpec): string {
  let path = '/*';
  if (m.uri) path = 'exact' in m.uri ? m.uri.exact : 'prefix' in m.uri ? `${m.uri.prefix}*` : `~${m.uri.regex}`;
  const parts = [path];
  if (m.method) parts.push(`method${describeString(m.method)}`);
  if (m.authority) parts.push(`authority${describeString(m.authority)}`);
  for (const [k, v] of Object.entries(m.headers ?? {})) parts.push(`header ${k}${describeString(v)}`);
  for (const [k, v] of Object.entries(m.queryParams ?? {})) parts.push(`query ${k}${describeString(v)}`);
  return parts.join(' ');
}

function describeRouteMatch(r: RouteSpec): string {
  return r.match.length === 0 ? '/*' : r.match.map(describeMatch).join(' | ');
}

function describeAction(r: RouteSpec): string {
  if (r.action.kind === 'direct') return `direct ${r.action.status}`;
  const cs = r.action.clusters;
  if (cs.length === 1) return cs[0]!.cluster;
  const total = cs.reduce((s, c) => s + c.weight, 0);
  return cs.map((c) => `${c.cluster} (${Math.round((100 * c.weight) / total)}%)`).join(', ');
}

function describeDomains(domains: readonly string[]): string {
  if (domains.length <= 2) return domains.join(', ');
  return `${domains.slice(0, 2).join(', ')} + ${domains.length - 2} more...`;
}

export function routesTable(dump: ConfigDump, f: RouteFilters): string {
  const rows: string[][] = [];
  for (const rc of filterRoutes(dump, f)) {
    for (const vh of rc.virtualHosts) {
      for (const r of vh.routes) {
        rows.push([rc.name, vh.name, describeDomains(vh.domains), describeRouteMatch(r), describeAction(r), r.origin]);
      }
    }
  }
  return renderTable(['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'DESTINATION', 'FROM'], rows);
}

// ---------------------------------------------------------------------------------------------------- clusters

export function filterClusters(dump: ConfigDump, f: ClusterFilters): ClusterSpec[] {
  return dumpParts(dump).clusters.filter(
    (c) =>
      (f.fqdn === undefined || c.service === f.fqdn || c.name === f.fqdn || (c.service !== undefined && c.service.startsWith(`${f.fqdn}.`))) &&
      (f.port === undefined || c.port === f.port) &&
      (f.subset === undefined || c.subset === f.subset) &&
      (f.direction === undefined || (c.direction === f.direction && (c.port !== undefined || c.service !== undefined))),
  );
}

function describeLb(c: ClusterSpec): string {
  const lb = c.loadBalancer;
  if (c.type !== 'EDS') return '-';
  if (lb.policy !== 'RING_HASH') return lb.policy;
  const k = lb.hashKey;
  return `RING_HASH(${k.kind === 'sourceIp' ? 'source ip' : `${k.kind} ${k.name}`})`;
}

export function clustersTable(dump: ConfigDump, f: ClusterFilters, live?: readonly ClusterStatusJson[]): string {
  const byName = new Map((live ?? []).map((c) => [c.name, c]));
  const rows = filterClusters(dump, f).map((c) => {
    const named = c.service !== undefined || c.port !== undefined;
    const l = byName.get(c.name);
    const endpoints = c.type === 'EDS' ? (l ? `${l.host_statuses.filter((h) => !h.health_status.failed_outlier_check).length}/${l.host_statuses.length}` : String(c.endpoints.length)) : '-';
    return [
      named ? (c.service ?? '') : c.name,
      c.port !== undefined ? String(c.port) : '-',
      c.subset ?? '-',
      named ? c.direction : '-',
      c.type,
      describeLb(c),
      endpoints,
    ];
  });
  return renderTable(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'LB POLICY', 'ENDPOINTS'], rows);
}

// ---------------------------------------------------------------------------------------------------- endpoints

export interface EndpointRow {
  readonly endpoint: string;
  readonly status: 'HEALTHY';
  readonly outlierCheck: 'OK' | 'FAILED';
  readonly cluster: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
  readonly stats: Record<string, number>;
}

export function filterEndpoints(live: readonly ClusterStatusJson[], f: EndpointFilters): EndpointRow[] {
  const rows: EndpointRow[] = [];
  for (const c of live) {
    if (f.cluster !== undefined && c.name !== f.cluster) continue;
    for (const h of c.host_statuses) {
      const a = h.address.socket_address;
      if (f.port !== undefined && a.port_value !== f.port) continue;
      if (f.address !== undefined && a.address !== f.address) continue;
      const failed = h.health_status.failed_outlier_check === true;
      if (f.status === 'healthy' && failed) continue;
      if (f.status === 'unhealthy' && !failed) continue;
      rows.push({
        endpoint: a.address.includes(':') ? `[${a.address}]:${a.port_value}` : `${a.address}:${a.port_value}`,
        status: 'HEALTHY',
        outlierCheck: failed ? 'FAILED' : 'OK',
        cluster: c.name,
        labels: h.labels,
        weight: h.weight,
        stats: h.stats,
      });
    }
  }
  return rows.sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : compareAddresses(a.endpoint.split(':')[0]!, b.endpoint.split(':')[0]!)));
}

export function endpointsTable(live: readonly ClusterStatusJson[], f: EndpointFilters): string {
  return renderTable(
    ['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'],
    filterEndpoints(live, f).map((r) => [r.endpoint, r.status, r.outlierCheck, r.cluster]),
  );
}
