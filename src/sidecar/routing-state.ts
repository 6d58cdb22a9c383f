/**
 * The proxy's live routing: the compiled snapshot of the current configuration plus its live clusters (pools,
 * outlier state, counters). A reload builds the next one off to the side and swaps a single reference, so every new
 * connection and request sees either the old or the new configuration, never a mix; clusters whose settings did not
 * change carry over, and in-flight work keeps the objects it already holds.
 */
import type { Direction, DownstreamConnection } from '../transport/downstream';
import type { Cluster, ClusterDeps } from '../upstream/cluster';
import { ClusterManager, type ReconcileResult } from '../upstream/cluster-manager';
import type { HttpRoutingSnapshot, HttpRoutingSource } from '../http/connection-manager';
import { RouteTable } from '../http/route-table';
import { addressKey, buildSnapshot, type ConfigSnapshot, type FilterChain, type SnapshotOptions } from '../config/snapshot';
import type { SidelaneConfig } from '../config/schema';
import { publishConfigReload, type ConfigReloadEvent, type WorkloadIdentity } from '../telemetry/events';

/** One applied configuration, ready for the data path. */
export class ActiveRouting implements HttpRoutingSnapshot {
  private readonly outboundTables = new Map<number, RouteTable>();
  private readonly inboundTables = new Map<number, RouteTable>();
  readonly tables: ReadonlyMap<string, RouteTable>;

  constructor(
    readonly version: number,
    readonly snapshot: ConfigSnapshot,
    readonly clusters: ReadonlyMap<string, Cluster>,
    /** Where the configuration came from (file path or `defaults`) and when (wall clock). */
    readonly source: string,
    readonly appliedAt: Date,
  ) {
    const tables = new Map<string, RouteTable>();
    for (const spec of snapshot.routeConfigs) tables.set(spec.name, new RouteTable(spec));
    this.tables = tables;
    for (const chain of snapshot.outboundByPort.values()) {
      const t = chain.routeConfig !== undefined ? tables.get(chain.routeConfig) : undefined;
      if (t) this.outboundTables.set(chain.port, t);
    }
    for (const chain of snapshot.outboundByAddress.values()) {
      const t = chain.routeConfig !== undefined ? tables.get(chain.routeConfig) : undefined;
      if (t && !this.outboundTables.has(chain.port)) this.outboundTables.set(chain.port, t);
    }
    for (const chain of snapshot.inboundByPort.values()) {
      const t = chain.routeConfig !== undefined ? tables.get(chain.routeConfig) : undefined;
      if (t) this.inboundTables.set(chain.port, t);
    }
  }

  get workload(): WorkloadIdentity | undefined {
    return this.snapshot.workload;
  }

  routeTable(direction: Direction, port: number): RouteTable | undefined {
    return direction === 'outbound' ? this.outboundTables.get(port) : this.inboundTables.get(port);
  }

  cluster(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  /** The outbound filter chain for an original destination (service address, endpoint, port-wide HTTP, fallback). */
  outboundChain(conn: DownstreamConnection): FilterChain {
    const s = this.snapshot;
    return s.outboundByAddress.get(addressKey(conn.origDst.address, conn.origDst.port)) ?? s.outboundByPort.get(conn.origDst.port) ?? s.outboundFallback;
  }

  inboundChain(conn: DownstreamConnection): FilterChain {
    return this.snapshot.inboundByPort.get(conn.origDst.port) ?? this.snapshot.inboundFallback;
  }
}

export interface ApplyOutcome {
  readonly routing: ActiveRouting;
  readonly clusters: ReconcileResult;
}

export class RoutingState implements HttpRoutingSource {
  private active: ActiveRouting | undefined;
  private readonly manager: ClusterManager;
  private nextVersion = 1;
  /** The last refused configuration's error (admin views), cleared by a successful apply. */
  lastError: { readonly message: string; readonly at: Date; readonly source: string } | undefined;

  constructor(
    deps: ClusterDeps,
    readonly options: SnapshotOptions,
  ) {
    this.manager = new ClusterManager(deps);
  }

  get current(): ActiveRouting {
    if (!this.active) throw new Error('routing used before a configuration was applied');
    return this.active;
  }

  get hasConfig(): boolean {
    return this.active !== undefined;
  }

  /** Compiles and swaps in a validated configuration. */
  apply(config: SidelaneConfig, source: string, trigger: ConfigReloadEvent['trigger'] = 'startup'): ApplyOutcome {
    const snapshot = buildSnapshot(config, this.options);
    const { clusters, result } = this.manager.reconcile(snapshot.clusters);
    const routing = new ActiveRouting(this.nextVersion++, snapshot, clusters, source, new Date());
    this.active = routing;
    this.lastError = undefined;
    publishConfigReload({ ok: true, version: routing.version, source, trigger });
    return { routing, clusters: result };
  }

  /** Records a refused configuration (the current one keeps serving). */
  refused(message: string, source: string, trigger: ConfigReloadEvent['trigger']): void {
    this.lastError = { message, at: new Date(), source };
    publishConfigReload({ ok: false, version: this.active?.version ?? 0, source, trigger, error: message });
  }

  async destroy(): Promise<void> {
    await this.manager.destroy();
  }
}

/** One line summarising what a configuration change did to the clusters. */
export function describeApply(o: ApplyOutcome): string {
  const c = o.clusters;
  return `version ${o.routing.version}; clusters: ${c.added.length} added, ${c.replaced.length} replaced, ${c.kept.length} kept, ${c.removed.length} removed`;
}
