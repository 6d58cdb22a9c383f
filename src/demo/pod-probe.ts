/**
 * Reads what a pod exposes only from inside its own network namespace — the admin API on 127.0.0.1:15000, the
 * metrics port on the pod address, nf_conntrack_count — by running small probes there (the demo process itself
 * lives in the host namespace and never routes into the pods).
 */
import type { ClusterStatusJson } from '../admin/clusters-view';
import type { Pod } from '../netns/lab';
import { podEnvironment } from './demo-mesh';

export interface HttpAnswer {
  /** 0 when nothing answered (body then says why). */
  readonly status: number;
  readonly body: string;
  /** Time to the whole answer, measured inside the pod. */
  readonly ms: number;
}

/**
 * GET from inside the pod with Node's fetch, in a plain process (no connect() hook: an outbound connection from
 * it is captured by the pod's TPROXY fallback, if at all).
 */
export async function httpGet(pod: Pod, url: string, timeoutMs = 15_000): Promise<HttpAnswer> {
  const script = `const t0 = performance.now();
fetch(process.argv[1], { signal: AbortSignal.timeout(${timeoutMs}) })
  .then(async (r) => ({ status: r.status, body: await r.text() }))
  .catch((e) => ({ status: 0, body: String(e.cause?.code ?? e.message) }))
  .then((a) => process.stdout.write(JSON.stringify({ ...a, ms: performance.now() - t0 })));`;
  const r = await pod.exec(process.execPath, ['-e', script, url], { timeoutMs: timeoutMs + 10_000, allowFailure: true, env: podEnvironment() });
  try {
    return JSON.parse(r.stdout) as HttpAnswer;
  } catch {
    return { status: 0, body: r.stderr.trim() || r.stdout.trim(), ms: 0 };
  }
}

/** The sidecar's clusters with their counters (admin /clusters?format=json). */
export async function clusterStatuses(pod: Pod): Promise<ClusterStatusJson[]> {
  const r = await httpGet(pod, 'http://127.0.0.1:15000/clusters?format=json');
  if (r.status !== 200) throw new Error(`admin API of ${pod.name} answered ${r.status}: ${r.body.slice(0, 200)}`);
  return (JSON.parse(r.body) as { cluster_statuses: ClusterStatusJson[] }).cluster_statuses;
}

export interface ConntrackReading {
  /** nf_conntrack_count in the pod's namespace. */
  readonly count: number;
  /** Whether conntrack is loaded at all (else nothing could be tracked and 0 proves nothing). */
  readonly loaded: boolean;
}

export async function conntrack(pod: Pod): Promise<ConntrackReading> {
  const r = await pod.exec('cat', ['/proc/sys/net/netfilter/nf_conntrack_count'], { allowFailure: true });
  if (r.code !== 0) return { count: 0, loaded: false };
  return { count: Number.parseInt(r.stdout.trim(), 10), loaded: true };
}
