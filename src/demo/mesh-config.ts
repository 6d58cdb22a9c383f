/**
 * Generates each pod's `sidelane run --config` file from the mesh plan, the way istiod derives Envoy's
 * configuration from the cluster: Services + the pods they select → services with VIPs and endpoints (labels
 * kept); the pods' `version` labels → subsets (Istio's destination-rule-all.yaml); VirtualServices → routes;
 * the pod's own Deployment → `workload` and its inbound ports. Pure, golden-tested (test/fixtures/golden/demo/).
 */
import { stringify } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors';
import type { ConfigSchema } from '../config/schema';
import { selects, type IstioVirtualService, type KubeServicePort, type MeshManifest } from './kube-manifest';
import { CLUSTER_DOMAIN, type MeshPlan, type PodPlan, type ServicePlan } from './mesh-plan';

/** The configuration as written in a file (durations as text), before the loader validates it. */
export type ConfigInput = z.input<typeof ConfigSchema>;
type ServiceInput = NonNullable<ConfigInput['services']>[number];
type RouteInput = NonNullable<ConfigInput['routes']>[number];
type PortInput = ServiceInput['ports'][number];
type HttpRouteInput = NonNullable<RouteInput['http']>[number];
type EndpointInput = NonNullable<ServiceInput['endpoints']>[number];

/** A Service port as a sidelane service port: the name (Istio's protocol selection) and appProtocol carry over. */
function servicePort(p: KubeServicePort): PortInput {
  return {
    port: p.port,
    ...(p.name !== undefined ? { name: p.name } : {}),
    ...(p.appProtocol !== undefined ? { protocol: p.appProtocol.toUpperCase() } : {}),
    ...(typeof p.targetPort === 'number' && p.targetPort !== p.port ? { targetPort: p.targetPort } : {}),
  };
}

function endpointsOf(s: ServicePlan, plan: MeshPlan): EndpointInput[] {
  const out: EndpointInput[] = [];
  for (const pod of plan.pods) {
    const d = pod.deployment;
    if (!d || d.namespace !== s.service.namespace || !selects(s.service.selector, d.labels)) continue;
    // A named targetPort is resolved per pod, as the endpoints controller does.
    const named: Record<string, number> = {};
    for (const p of s.service.ports) {
      if (typeof p.targetPort !== 'string') continue;
      const c = d.ports.find((x) => x.name === p.targetPort);
      if (c && p.name !== undefined) named[p.name] = c.containerPort;
    }
    out.push({ address: pod.ipv4, ...(Object.keys(named).length ? { ports: named } : {}), labels: { ...d.labels } });
  }
  return out;
}

export function meshServices(plan: MeshPlan): ServiceInput[] {
  return plan.services.map((s) => {
    const endpoints = endpointsOf(s, plan);
    const versions = [...new Set(endpoints.map((e) => e.labels?.version).filter((v): v is string => v !== undefined))].sort();
    return {
      host: s.fqdn,
      addresses: [s.vip],
      ports: s.service.ports.map(servicePort),
      endpoints,
      ...(versions.length ? { subsets: versions.map((v) => ({ name: v, labels: { version: v } })) } : {}),
    };
  });
}

/** Istio's host resolution for a VirtualService in `namespace`: a short name is completed with the namespace. */
function resolveHost(host: string, vs: IstioVirtualService, plan: MeshPlan, file: string): string {
  const dots = host.split('.').length - 1;
  const fqdn =
    dots === 0 ? `${host}.${vs.namespace}.${CLUSTER_DOMAIN}` : dots === 1 ? `${host}.${CLUSTER_DOMAIN}` : dots === 2 ? `${host}.cluster.local` : host;
  if (!plan.services.some((s) => s.fqdn === fqdn)) {
    throw new ConfigError(`${file}: VirtualService ${vs.name}: host ${host} is not a Service of the manifest (resolved to ${fqdn})`, file);
  }
  return fqdn;
}

const MATCH_FIELDS = new Set(['name', 'uri', 'method', 'authority', 'headers', 'queryParams']);

export function meshRoutes(manifest: MeshManifest, plan: MeshPlan, file = 'manifest'): RouteInput[] {
  const out: RouteInput[] = [];
  for (const vs of manifest.virtualServices) {
    const http = vs.http.map((r, i): HttpRouteInput => {
      for (const m of r.match ?? []) {
        for (const key of Object.keys(m)) {
          if (!MATCH_FIELDS.has(key)) throw new ConfigError(`${file}: VirtualService ${vs.name}: spec.http[${i}].match.${key}: sidelane matches on ${[...MATCH_FIELDS].join(', ')}`, file);
        }
      }
      return {
        ...(r.name !== undefined ? { name: r.name } : {}),
        ...(r.match !== undefined ? { match: r.match as HttpRouteInput['match'] } : {}),
        route: r.route.map((d) => ({
          destination: {
            host: resolveHost(d.destination.host, vs, plan, file),
            ...(d.destination.subset !== undefined ? { subset: d.destination.subset } : {}),
            ...(d.destination.port !== undefined ? { port: d.destination.port } : {}),
          },
          ...(d.weight !== undefined ? { weight: d.weight } : {}),
        })),
        ...(r.timeout !== undefined ? { timeout: r.timeout } : {}),
        ...(r.retries !== undefined ? { retries: r.retries as HttpRouteInput['retries'] } : {}),
      };
    });
    // One sidelane rule per host of the VirtualService (Istio applies the same rules to each).
    for (const host of vs.hosts) out.push({ host: resolveHost(host, vs, plan, file), http });
  }
  return out;
}

/** The inbound ports of a pod: each container port a Service targets, with that Service port's name. */
function inboundPorts(pod: PodPlan, plan: MeshPlan): NonNullable<NonNullable<ConfigInput['inbound']>['ports']> {
  const d = pod.deployment;
  if (!d) return [];
  const ports = new Map<number, { port: number; name?: string; protocol?: string }>();
  for (const s of plan.services) {
    if (s.service.namespace !== d.namespace || !selects(s.service.selector, d.labels)) continue;
    for (const p of s.service.ports) {
      const target = typeof p.targetPort === 'string' ? d.ports.find((c) => c.name === p.targetPort)?.containerPort : (p.targetPort ?? p.port);
      if (target === undefined || ports.has(target)) continue;
      ports.set(target, {
        port: target,
        ...(p.name !== undefined ? { name: p.name } : {}),
        ...(p.appProtocol !== undefined ? { protocol: p.appProtocol.toUpperCase() } : {}),
      });
    }
  }
  return [...ports.values()].sort((a, b) => a.port - b.port);
}

/** The complete configuration of one pod's sidecar. */
export function podConfig(manifest: MeshManifest, plan: MeshPlan, pod: PodPlan, file = 'manifest'): ConfigInput {
  const d = pod.deployment;
  const workload = d
    ? { name: d.name, namespace: d.namespace, ...(d.serviceAccount ? { serviceAccount: d.serviceAccount } : {}), labels: { ...d.labels } }
    : { name: pod.name, namespace: 'default', labels: { app: pod.name } };
  const inbound = inboundPorts(pod, plan);
  const routes = meshRoutes(manifest, plan, file);
  return {
    outboundTrafficPolicy: 'ALLOW_ANY',
    workload,
    services: meshServices(plan),
    ...(routes.length ? { routes } : {}),
    ...(inbound.length ? { inbound: { ports: inbound } } : {}),
  };
}

/** The file text: a header saying where it came from, then the YAML. */
export function renderConfig(config: ConfigInput, pod: PodPlan, sources: readonly string[]): string {
  const header = [
    `# sidelane configuration of pod ${pod.name} (${pod.ipv4}), generated by \`sidelane demo\` from`,
    ...sources.map((s) => `#   ${s}`),
    '# Services + selected pods → services/endpoints, version labels → subsets, VirtualServices → routes.',
  ];
  return `${header.join('\n')}\n${stringify(config, { lineWidth: 0, flowCollectionPadding: false })}`;
}
