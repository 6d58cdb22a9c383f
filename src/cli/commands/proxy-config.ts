/**
 * `sidelane proxy-config listeners|routes|clusters|endpoints`: istioctl proxy-config's views of a running proxy,
 * read from its admin API, as tables or JSON (-o json).
 */
import net from 'node:net';
import type { Command } from 'commander';
import { shown } from '../../capture/validation';
import { SidelaneError, UsageError } from '../../errors';
import type { ConfigDump } from '../../admin/config-dump';
import type { ClusterStatusJson } from '../../admin/clusters-view';
import {
  clustersTable,
  endpointsTable,
  filterClusters,
  filterEndpoints,
  filterListeners,
  filterRoutes,
  listenersTable,
  routesTable,
} from '../../admin/proxy-config-view';
import { parseChoice, parsePort } from '../options';

interface CommonFlags {
  admin: string;
  output: string;
}

/** The admin API's base URL: http(s) only (it is fetched). */
function adminBase(admin: string): string {
  let url: URL | undefined;
  try {
    url = new URL(admin.endsWith('/') ? admin : `${admin}/`);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new UsageError(`--admin: expected a URL like http://127.0.0.1:15000, got ${shown(admin)}`);
  }
  return url.href;
}

async function fetchJson<T>(admin: string, path: string): Promise<T> {
  const url = new URL(path, adminBase(admin));
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.message : String(err));
    throw new SidelaneError('SIDELANE_ERR_ADMIN', `cannot reach the admin API at ${url.origin} (${cause}); is \`sidelane run\` running there? (--admin URL)`, {
      url: url.href,
    });
  }
  if (!res.ok) throw new SidelaneError('SIDELANE_ERR_ADMIN', `admin API ${url.href} answered ${res.status}: ${(await res.text()).trim()}`, { url: url.href });
  return (await res.json()) as T;
}

/** Validates the flags every view shares (before anything is fetched); returns the output format. */
function output(flags: CommonFlags): 'table' | 'json' {
  const format = parseChoice('-o/--output', flags.output, ['table', 'json'] as const);
  adminBase(flags.admin);
  return format;
}

function print(s: string): void {
  process.stdout.write(s);
}

function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

const direction = (v: string | undefined): 'inbound' | 'outbound' | undefined =>
  v === undefined ? undefined : parseChoice('--direction', v, ['inbound', 'outbound'] as const);
const port = (v: string | undefined): number | undefined => (v === undefined ? undefined : parsePort('--port', v));
const ipAddress = (v: string): string => {
  if (net.isIP(v) === 0) throw new UsageError(`--address: expected an IPv4 or IPv6 address, got ${shown(v)}`);
  return v;
};

function common(cmd: Command): Command {
  return cmd
    .option('--admin <url>', "the proxy's admin API", 'http://127.0.0.1:15000')
    .option('-o, --output <format>', 'table or json', 'table');
}

export function registerProxyConfig(program: Command): void {
  const pc = program
    .command('proxy-config')
    .alias('pc')
    .description("show a running proxy's listeners, routes, clusters and endpoints (istioctl proxy-config's views)");

  common(
    pc
      .command('listeners')
      .alias('listener')
      .description('listeners and filter chains: where each original destination goes')
      .option('--port <port>', 'only this port')
      .option('--address <ip>', 'only this address')
      .option('--direction <dir>', 'inbound or outbound'),
  ).action(async (flags: CommonFlags & { port?: string; address?: string; direction?: string }) => {
    const fmt = output(flags);
    const filters = {
      ...(flags.port !== undefined ? { port: port(flags.port)! } : {}),
      ...(flags.address !== undefined ? { address: ipAddress(flags.address) } : {}),
      ...(flags.direction !== undefined ? { direction: direction(flags.direction)! } : {}),
    };
    const dump = await fetchJson<ConfigDump>(flags.admin, 'config_dump');
    if (fmt === 'json') printJson(filterListeners(dump, filters));
    else print(listenersTable(dump, filters));
  });

  common(
    pc
      .command('routes')
      .alias('route')
      .description('route configurations: virtual hosts, matches and destinations')
      .option('--name <name>', 'only this route configuration (e.g. 9080, inbound|9080||)'),
  ).action(async (flags: CommonFlags & { name?: string }) => {
    const fmt = output(flags);
    const filters = flags.name !== undefined ? { name: flags.name } : {};
    const dump = await fetchJson<ConfigDump>(flags.admin, 'config_dump');
    if (fmt === 'json') printJson(filterRoutes(dump, filters));
    else print(routesTable(dump, filters));
  });

  common(
    pc
      .command('clusters')
      .alias('cluster')
      .description('clusters: services, ports, subsets and their settings')
      .option('--fqdn <host>', 'only this service host (a prefix of the FQDN works: reviews.default)')
      .option('--port <port>', 'only this port')
      .option('--subset <name>', 'only this subset')
      .option('--direction <dir>', 'inbound or outbound'),
  ).action(async (flags: CommonFlags & { fqdn?: string; port?: string; subset?: string; direction?: string }) => {
    const fmt = output(flags);
    const filters = {
      ...(flags.fqdn !== undefined ? { fqdn: flags.fqdn } : {}),
      ...(flags.port !== undefined ? { port: port(flags.port)! } : {}),
      ...(flags.subset !== undefined ? { subset: flags.subset } : {}),
      ...(flags.direction !== undefined ? { direction: direction(flags.direction)! } : {}),
    };
    const dump = await fetchJson<ConfigDump>(flags.admin, 'config_dump');
    if (fmt === 'json') {
      printJson(filterClusters(dump, filters));
      return;
    }
    const live = await fetchJson<{ cluster_statuses: ClusterStatusJson[] }>(flags.admin, 'clusters?format=json');
    print(clustersTable(dump, filters, live.cluster_statuses));
  });

  common(
    pc
      .command('endpoints')
      .alias('endpoint')
      .description('endpoints with their health (outlier detection) per cluster')
      .option('--cluster <name>', 'only this cluster (e.g. "outbound|9080||ratings.default.svc.cluster.local")')
      .option('--port <port>', 'only endpoints on this port')
      .option('--address <ip>', 'only this endpoint address')
      .option('--status <status>', 'healthy or unhealthy'),
  ).action(async (flags: CommonFlags & { cluster?: string; port?: string; address?: string; status?: string }) => {
    const fmt = output(flags);
    const filters = {
      ...(flags.cluster !== undefined ? { cluster: flags.cluster } : {}),
      ...(flags.port !== undefined ? { port: port(flags.port)! } : {}),
      ...(flags.address !== undefined ? { address: ipAddress(flags.address) } : {}),
      ...(flags.status !== undefined ? { status: parseChoice('--status', flags.status, ['healthy', 'unhealthy'] as const) } : {}),
    };
    const live = await fetchJson<{ cluster_statuses: ClusterStatusJson[] }>(flags.admin, 'clusters?format=json');
    if (fmt === 'json') printJson(filterEndpoints(live.cluster_statuses, filters));
    else print(endpointsTable(live.cluster_statuses, filters));
  });
}
