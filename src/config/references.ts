/**
 * Cross-reference checks the schema cannot express: every route points at a service, port and subset that exist,
 * every subset selects at least one endpoint, names and addresses are unique. Each problem is reported with its
 * path in the file, like schema errors.
 */
import type { ConfigIssue } from '../errors';
import { resolveProtocol } from './protocol';
import type { RouteDestinationConfig, ServiceConfig, SidelaneConfig } from './schema';

export type PathSegment = string | number;

/** `services[2].ports[0].port` from ['services', 2, 'ports', 0, 'port']. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === '' ? '(top level)' : out;
}

export interface PathIssue {
  readonly path: readonly PathSegment[];
  readonly message: string;
}

/** True when every label of the selector is on the endpoint. */
export function labelsMatch(selector: Readonly<Record<string, string>>, endpointLabels: Readonly<Record<string, string>> | undefined): boolean {
  for (const [k, v] of Object.entries(selector)) if (endpointLabels?.[k] !== v) return false;
  return true;
}

/** Returns every cross-reference problem (empty when the configuration is consistent). */
export function checkReferences(config: SidelaneConfig): PathIssue[] {
  const issues: PathIssue[] = [];
  const add = (path: PathSegment[], message: string): void => {
    issues.push({ path, message });
  };
  const services = config.services ?? [];
  const byHost = new Map<string, ServiceConfig>();
  const vips = new Map<string, string>(); // "ip|port" -> host

  services.forEach((svc, i) => {
    if (byHost.has(svc.host)) add(['services', i, 'host'], `duplicate service host ${svc.host} (each host is declared once)`);
    byHost.set(svc.host, svc);
    const ports = new Set<number>();
    const names = new Set<string>();
    svc.ports.forEach((p, j) => {
      if (ports.has(p.port)) add(['services', i, 'ports', j, 'port'], `duplicate port ${p.port} in service ${svc.host}`);
      ports.add(p.port);
      if (p.name !== undefined) {
        if (names.has(p.name)) add(['services', i, 'ports', j, 'name'], `duplicate port name ${p.name} in service ${svc.host}`);
        names.add(p.name);
      }
      for (const address of svc.addresses ?? []) {
        const key = `${address}|${p.port}`;
        const other = vips.get(key);
        if (other !== undefined && other !== svc.host) {
          add(['services', i, 'addresses'], `address ${address} port ${p.port} is already the address of service ${other}`);
        }
        vips.set(key, svc.host);
      }
    });
    (svc.endpoints ?? []).forEach((ep, j) => {
      if (ep.port !== undefined && svc.ports.length > 1) {
        add(['services', i, 'endpoints', j, 'port'], `service ${svc.host} has ${svc.ports.length} ports: give endpoint ports by port name (ports: {${svc.ports.map((p) => p.name ?? p.port).join(': …, ')}: …}) or set targetPort on the service ports`);
      }
      for (const key of Object.keys(ep.ports ?? {})) {
        if (!svc.ports.some((p) => p.name === key || String(p.port) === key)) {
          add(['services', i, 'endpoints', j, 'ports', key], `service ${svc.host} has no port named ${key} (expected one of ${svc.ports.map((p) => p.name ?? String(p.port)).join(', ')})`);
        }
      }
    });
    const subsetNames = new Set<string>();
    (svc.subsets ?? []).forEach((sub, j) => {
      if (subsetNames.has(sub.name)) add(['services', i, 'subsets', j, 'name'], `duplicate subset ${sub.name} in service ${svc.host}`);
      subsetNames.add(sub.name);
      if (!(svc.endpoints ?? []).some((ep) => labelsMatch(sub.labels, ep.labels))) {
        add(['services', i, 'subsets', j, 'labels'], `subset ${sub.name} of ${svc.host} selects no endpoint (no endpoint has labels ${formatLabels(sub.labels)})`);
      }
    });
  });

  const ruleKeys = new Set<string>();
  (config.routes ?? []).forEach((rule, i) => {
    const svc = byHost.get(rule.host);
    if (!svc) {
      add(['routes', i, 'host'], `route for unknown host ${rule.host} (expected the host of a service in services)`);
      return;
    }
    if (rule.port !== undefined && !svc.ports.some((p) => p.port === rule.port)) {
      add(['routes', i, 'port'], `service ${rule.host} has no port ${rule.port} (expected one of ${svc.ports.map((p) => p.port).join(', ')})`);
      return;
    }
    const rulePorts = rule.port !== undefined ? [rule.port] : svc.ports.map((p) => p.port);
    for (const p of rulePorts) {
      const key = `${rule.host}|${p}`;
      if (ruleKeys.has(key)) add(['routes', i], `a second route rule for ${rule.host} port ${p} (merge them into one rule)`);
      ruleKeys.add(key);
    }
    const protocols = svc.ports.filter((p) => rulePorts.includes(p.port)).map((p) => resolveProtocol(p.protocol, p.name).effective);
    if (rule.http && !protocols.some((p) => p !== 'TCP')) {
      add(['routes', i, 'http'], `http routes on a TCP port of ${rule.host} (declare the port's protocol HTTP or AUTO, or use tcp routes)`);
    }
    rule.http?.forEach((r, j) => checkDestinations(r.route, ['routes', i, 'http', j, 'route'], rule.host, rulePorts, byHost, add));
    rule.tcp?.forEach((r, j) => checkDestinations(r.route, ['routes', i, 'tcp', j, 'route'], rule.host, rulePorts, byHost, add));
  });

  const inboundPorts = new Set<number>();
  (config.inbound?.ports ?? []).forEach((p, i) => {
    if (inboundPorts.has(p.port)) add(['inbound', 'ports', i, 'port'], `duplicate inbound port ${p.port}`);
    inboundPorts.add(p.port);
  });
  return issues;
}

function checkDestinations(
  route: readonly RouteDestinationConfig[],
  path: PathSegment[],
  ruleHost: string,
  rulePorts: readonly number[],
  byHost: ReadonlyMap<string, ServiceConfig>,
  add: (path: PathSegment[], message: string) => void,
): void {
  const weighted = route.filter((d) => d.weight !== undefined).length;
  if (weighted !== 0 && weighted !== route.length) {
    add(path, 'give every destination a weight, or none (equal split)');
  } else if (weighted > 0 && route.reduce((s, d) => s + (d.weight ?? 0), 0) === 0) {
    add(path, 'the weights add up to 0 (expected a positive total)');
  }
  route.forEach((d, k) => {
    const dest = d.destination ?? d;
    const at = d.destination ? [...path, k, 'destination'] : [...path, k];
    const host = dest.host ?? ruleHost;
    const svc = byHost.get(host);
    if (!svc) {
      add([...at, 'host'], `destination host ${host} is not a service (expected the host of a service in services)`);
      return;
    }
    if (dest.port !== undefined && !svc.ports.some((p) => p.port === dest.port)) {
      add([...at, 'port'], `service ${host} has no port ${dest.port} (expected one of ${svc.ports.map((p) => p.port).join(', ')})`);
      return;
    }
    if (dest.port === undefined && svc.ports.length > 1 && !rulePorts.every((rp) => svc.ports.some((p) => p.port === rp))) {
      add([...at, 'port'], `service ${host} has several ports and none equals the route's port: give destination port`);
    }
    if (dest.subset !== undefined) {
      if (typeof dest.subset === 'string') {
        if (!(svc.subsets ?? []).some((s) => s.name === dest.subset)) {
          const names = (svc.subsets ?? []).map((s) => s.name);
          add([...at, 'subset'], `service ${host} has no subset ${dest.subset} (${names.length ? `expected one of ${names.join(', ')}` : 'declare it under subsets, or give labels like {version: v1}'})`);
        }
      } else if (!(svc.endpoints ?? []).some((ep) => labelsMatch(dest.subset as Record<string, string>, ep.labels))) {
        add([...at, 'subset'], `subset ${formatLabels(dest.subset)} of ${host} selects no endpoint`);
      }
    }
  });
}

export function formatLabels(l: Readonly<Record<string, string>>): string {
  return `{${Object.entries(l).map(([k, v]) => `${k}: ${v}`).join(', ')}}`;
}

export function toConfigIssues(issues: readonly PathIssue[]): ConfigIssue[] {
  return issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
}
