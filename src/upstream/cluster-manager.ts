/**
 * The live clusters of the proxy, reconciled with each configuration: a cluster whose settings did not change is
 * kept (its pools, outlier state and counters survive; only its endpoints are updated), a changed one is replaced
 * and the old one retired (it finishes its in-flight work, then closes), a removed one is retired.
 */
import { Cluster, type ClusterDeps, type ClusterSpec } from './cluster';

export interface ReconcileResult {
  readonly added: readonly string[];
  readonly replaced: readonly string[];
  readonly kept: readonly string[];
  readonly removed: readonly string[];
}

/** Everything but the endpoints: what decides whether a cluster can be kept across a reload. */
export function settingsKey(spec: ClusterSpec): string {
  const { endpoints: _endpoints, ...settings } = spec;
  return JSON.stringify(settings);
}

export class ClusterManager {
  private current = new Map<string, Cluster>();
  private keys = new Map<string, string>();

  constructor(private readonly deps: ClusterDeps) {}

  get clusters(): ReadonlyMap<string, Cluster> {
    return this.current;
  }

  /** Builds the next cluster map; the previous map stays valid for whoever still holds it. */
  reconcile(specs: readonly ClusterSpec[]): { clusters: ReadonlyMap<string, Cluster>; result: ReconcileResult } {
    const next = new Map<string, Cluster>();
    const nextKeys = new Map<string, string>();
    const added: string[] = [];
    const replaced: string[] = [];
    const kept: string[] = [];
    for (const spec of specs) {
      const key = settingsKey(spec);
      const old = this.current.get(spec.name);
      if (old && this.keys.get(spec.name) === key) {
        old.updateEndpoints(spec.endpoints);
        next.set(spec.name, old);
        kept.push(spec.name);
      } else {
        next.set(spec.name, new Cluster(spec, this.deps));
        (old ? replaced : added).push(spec.name);
      }
      nextKeys.set(spec.name, key);
    }
    const removed: string[] = [];
    for (const [name, old] of this.current) {
      if (next.get(name) !== old) {
        old.retire();
        if (!next.has(name)) removed.push(name);
      }
    }
    this.current = next;
    this.keys = nextKeys;
    return { clusters: next, result: { added, replaced, kept, removed } };
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.current.values()].map((c) => c.destroy()));
  }
}
