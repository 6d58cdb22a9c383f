/**
 * Istio's workload and service labels (source_* / destination_*) for one proxied request or connection. This proxy's
 * own side comes from the configuration's `workload`; the peer's side from the registry — the labels of the endpoint
 * that answered (outbound) or of the endpoint whose address the client has (inbound) — because without mTLS
 * metadata exchange the address is all a sidecar knows of its peer. Unknown values are `unknown`, as in Istio.
 */
import type { WorkloadIdentity } from './events';

export interface PeerIdentity {
  readonly workload: string;
  readonly namespace: string;
  readonly app: string;
  readonly version: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly principal: string;
}

const UNKNOWN = 'unknown';

export const UNKNOWN_PEER: PeerIdentity = {
  workload: UNKNOWN,
  namespace: UNKNOWN,
  app: UNKNOWN,
  version: UNKNOWN,
  canonicalService: UNKNOWN,
  canonicalRevision: 'latest',
  principal: UNKNOWN,
};

/** `reviews.default.svc.cluster.local` → namespace `default`; a short name says nothing. */
export function namespaceOfHost(host: string | undefined): string {
  if (!host) return UNKNOWN;
  const parts = host.split('.');
  return parts.length >= 3 && parts[2] === 'svc' ? parts[1]! : UNKNOWN;
}

export function serviceNameOfHost(host: string | undefined): string {
  return host ? host.split('.')[0]! : UNKNOWN;
}

/**
 * From endpoint (pod) labels: the workload is `sidelane.io/workload` or `workload` when given, else
 * `<app>-<version>` (a Deployment named like bookinfo's), else the app.
 */
export function identityFromLabels(labels: Readonly<Record<string, string>> | undefined, serviceHost?: string): PeerIdentity {
  if (!labels && !serviceHost) return UNKNOWN_PEER;
  const l = labels ?? {};
  const app = l['app'] ?? l['app.kubernetes.io/name'] ?? UNKNOWN;
  const version = l['version'] ?? l['app.kubernetes.io/version'] ?? UNKNOWN;
  const workload = l['sidelane.io/workload'] ?? l['workload'] ?? (app !== UNKNOWN ? (version !== UNKNOWN ? `${app}-${version}` : app) : UNKNOWN);
  return {
    workload,
    namespace: l['namespace'] ?? namespaceOfHost(serviceHost),
    app,
    version,
    canonicalService: l['service.istio.io/canonical-name'] ?? (app !== UNKNOWN ? app : workload),
    canonicalRevision: l['service.istio.io/canonical-revision'] ?? (version !== UNKNOWN ? version : 'latest'),
    principal: UNKNOWN,
  };
}

/** This proxy's own identity from the configuration's `workload` section. */
export function identityFromWorkload(w: WorkloadIdentity | undefined): PeerIdentity {
  if (!w) return UNKNOWN_PEER;
  const base = identityFromLabels(w.labels ?? {});
  const namespace = w.namespace ?? base.namespace;
  const workload = w.name ?? base.workload;
  return {
    ...base,
    workload,
    namespace,
    canonicalService: base.canonicalService !== UNKNOWN ? base.canonicalService : workload,
    principal: w.serviceAccount && namespace !== UNKNOWN ? `spiffe://cluster.local/ns/${namespace}/sa/${w.serviceAccount}` : UNKNOWN,
  };
}
