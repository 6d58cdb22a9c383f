/**
 * Where each part of the demo's mesh lives: one pod (network namespace) per Deployment plus a client pod (the
 * "browser"), pod addresses in 198.18.0.0/16 and one service VIP per Service in 198.19.0.0/16 — what a cluster's
 * scheduler and IPAM would decide. Pure and deterministic: the same manifest always gives the same plan.
 */
import { ConfigError } from '../errors';
import { selects, type KubeDeployment, type KubeService, type MeshManifest } from './kube-manifest';
import type { Role } from './bookinfo-app';

/** The workloads the demo has an app for (src/demo/bookinfo-app.ts), by the pod's `app` label. */
export const DEMO_ROLES: readonly Role[] = ['productpage', 'details', 'reviews', 'ratings'];

export interface PodPlan {
  /** Pod (and namespace suffix) name: the app for a single-version app, else the Deployment's name. */
  readonly name: string;
  /** Host part of the pod's address, 198.18.0.<index>. */
  readonly index: number;
  readonly ipv4: string;
  /** The Deployment this pod runs; absent for the client pod. */
  readonly deployment?: KubeDeployment;
  /** The demo app it runs and its version; absent for the client pod. */
  readonly app?: { readonly role: Role; readonly version: string; readonly port: number };
}

export interface ServicePlan {
  readonly service: KubeService;
  readonly fqdn: string;
  readonly vip: string;
}

export interface MeshPlan {
  readonly pods: readonly PodPlan[];
  readonly services: readonly ServicePlan[];
  /** The pod the demo's requests start from (a sidecar, no app: the browser). */
  readonly client: PodPlan;
}

export interface PlanOptions {
  /** Host part of the first workload pod (default 10; the client pod is 100). */
  readonly firstPodIndex?: number;
  readonly clientIndex?: number;
  /** Host part of the first service VIP, 198.19.0.<n> (default 10). */
  readonly firstVipIndex?: number;
}

export const CLUSTER_DOMAIN = 'svc.cluster.local';

export function serviceFqdn(s: { name: string; namespace: string }): string {
  return `${s.name}.${s.namespace}.${CLUSTER_DOMAIN}`;
}

/** The container port a Deployment's app listens on: the one a Service targets, else its first port, else 9080. */
function appPort(d: KubeDeployment, services: readonly KubeService[]): number {
  for (const s of services) {
    if (!selects(s.selector, d.labels)) continue;
    for (const p of s.ports) {
      if (typeof p.targetPort === 'string') {
        const named = d.ports.find((c) => c.name === p.targetPort);
        if (named) return named.containerPort;
      } else return p.targetPort ?? p.port;
    }
  }
  return d.ports[0]?.containerPort ?? 9080;
}

export function planMesh(manifest: MeshManifest, options: PlanOptions = {}, file = 'manifest'): MeshPlan {
  const first = options.firstPodIndex ?? 10;
  const clientIndex = options.clientIndex ?? 100;
  const firstVip = options.firstVipIndex ?? 10;
  if (manifest.deployments.length === 0) throw new ConfigError(`${file}: expected at least one Deployment`, file);
  if (first + manifest.deployments.length > clientIndex || manifest.services.length > 240) {
    throw new ConfigError(`${file}: too many Deployments or Services for the demo's address plan`, file);
  }
  const perApp = new Map<string, number>();
  for (const d of manifest.deployments) perApp.set(d.labels.app ?? d.name, (perApp.get(d.labels.app ?? d.name) ?? 0) + 1);

  const pods: PodPlan[] = manifest.deployments.map((d, i) => {
    const app = d.labels.app;
    if (app === undefined || !(DEMO_ROLES as readonly string[]).includes(app)) {
      throw new ConfigError(
        `${file}: Deployment ${d.name}: the demo has no app for app label ${JSON.stringify(app ?? null)} (expected one of ${DEMO_ROLES.join(', ')})`,
        file,
      );
    }
    const name = perApp.get(app) === 1 ? app : d.name;
    if (!/^[a-z0-9-]{1,20}$/.test(name)) throw new ConfigError(`${file}: Deployment ${d.name}: expected a name of 1-20 [a-z0-9-] for its pod`, file);
    const index = first + i;
    return {
      name,
      index,
      ipv4: `198.18.0.${index}`,
      deployment: d,
      app: { role: app as Role, version: d.labels.version ?? 'v1', port: appPort(d, manifest.services) },
    };
  });
  const names = new Set(pods.map((p) => p.name));
  if (names.size !== pods.length) throw new ConfigError(`${file}: two Deployments would get the same pod name`, file);
  const clientName = names.has('client') ? 'browser' : 'client';
  const client: PodPlan = { name: clientName, index: clientIndex, ipv4: `198.18.0.${clientIndex}` };
  const services = manifest.services.map((service, i) => ({ service, fqdn: serviceFqdn(service), vip: `198.19.0.${firstVip + i}` }));
  return { pods: [...pods, client], services, client };
}

/** Name → VIP entries for the pods' /etc/hosts: the short name, `name.namespace`, `.svc` and the FQDN (cluster DNS). */
export function hostEntries(plan: MeshPlan): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of plan.services) {
    const { name, namespace } = s.service;
    for (const alias of [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, s.fqdn]) out[alias] = s.vip;
  }
  return out;
}
