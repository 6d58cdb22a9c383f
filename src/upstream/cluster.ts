/**
 * A cluster (Envoy's unit of upstream): a named set of endpoints with a load balancer, circuit breakers, optional
 * outlier detection, HTTP pools per endpoint, and counters. EDS clusters have endpoints from configuration;
 * ORIGINAL_DST clusters (inbound|<port>||, PassthroughCluster) create one endpoint per original destination (and
 * source, when the client's address is preserved) on demand; STATIC clusters with no endpoints are black holes.
 */
import type { ConnectRequest, Connector } from '../transport/connector';
import { formatAddress, type ClientAddr, type OrigDstAddr } from '../transport/address';
import { CircuitBreakers, type Admission, type CircuitBreakerLimits } from './circuit-breaker';
import type { Clock } from './clock';
import { ClusterStats } from './cluster-stats';
import { Endpoint, type EndpointSpec } from './endpoint';
import { EndpointSet } from './endpoint-set';
import { Http1Pool, type HttpDispatcher } from './http1-pool';
import { createLoadBalancer, type LoadBalancer, type LoadBalancerPolicy } from './load-balancer';
import { OutlierDetector, type OutlierSettings } from './outlier-detection';
import type { RandomSource } from './random-source';

export type ClusterType = 'EDS' | 'ORIGINAL_DST' | 'STATIC';

/**
 * Source ports for legs that carry the client's own address (source preservation): below the kernel's default
 * ephemeral range (32768-60999), so a port the proxy takes for its leg to the app is never one the client picks
 * for its next connection to the same app — the two would share a 4-tuple (found by the benchmark under churn).
 */
export const PRESERVED_SOURCE_PORTS = { min: 1024, max: 32767 } as const;

/** Which source address an ORIGINAL_DST cluster connects from. */
export type SourceMode = 'none' | 'client' | 'inbound-passthrough';

/** A cluster as configuration describes it (plain data; compared between reloads to decide reuse). */
export interface ClusterSpec {
  readonly name: string;
  readonly type: ClusterType;
  readonly direction: 'outbound' | 'inbound';
  /** The service host (outbound) — Istio's destination_service. */
  readonly service?: string;
  readonly port?: number;
  readonly subset?: string;
  readonly subsetLabels?: Readonly<Record<string, string>>;
  /** Declared protocol of the port (HTTP, TCP, MYSQL, AUTO…), for views. */
  readonly protocol: string;
  readonly endpoints: readonly EndpointSpec[];
  readonly loadBalancer: LoadBalancerPolicy;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  readonly circuitBreakers: CircuitBreakerLimits;
  readonly outlierDetection?: OutlierSettings;
  readonly sourceMode: SourceMode;
}

export interface ClusterDeps {
  readonly connector: Connector;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** SO_MARK on every upstream connection (0 = none). */
  readonly bypassMark: number;
}

/** What endpoint selection needs to know about a downstream connection. */
export interface DownstreamAddresses {
  readonly origDst: OrigDstAddr;
  readonly client: ClientAddr;
}

/** A request waiting for a connection slot (circuit breakers' pending queue). */
export interface PendingWaiter {
  admitted(): void;
}

const HOST_SELECTION_ATTEMPTS = 5; // Istio's host_selection_retry_max_attempts
const ORIGINAL_DST_SWEEP_MS = 5000; // Envoy's ORIGINAL_DST cleanup_interval

export class Cluster {
  readonly name: string;
  readonly stats = new ClusterStats();
  readonly endpoints: EndpointSet;
  readonly loadBalancer: LoadBalancer;
  readonly breakers: CircuitBreakers;
  readonly outlier: OutlierDetector | undefined;
  /** Retries currently running (circuit breaker max retries / retry budget). */
  activeRetries = 0;
  /** Replaced or removed by a reload: close pools once the last request or connection is done. */
  retired = false;
  private readonly pendingQueue: PendingWaiter[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly spec: ClusterSpec,
    private readonly deps: ClusterDeps,
  ) {
    this.name = spec.name;
    this.endpoints = new EndpointSet(spec.type === 'EDS' ? spec.endpoints : []);
    this.loadBalancer = createLoadBalancer(spec.loadBalancer, deps.random);
    this.breakers = new CircuitBreakers(spec.circuitBreakers);
    this.outlier = spec.outlierDetection ? new OutlierDetector(spec.outlierDetection, deps.clock, this.endpoints, this.stats) : undefined;
  }

  get clock(): Clock {
    return this.deps.clock;
  }

  get random(): RandomSource {
    return this.deps.random;
  }

  // ------------------------------------------------------------------------------------------------ admission

  /**
   * Admits an HTTP request (it holds a slot, counted in upstream_rq_active, until release()), queues it, or refuses
   * it; overflows are counted here. upstream_rq_total counts attempts, by the caller.
   */
  admit(waiter: PendingWaiter): Admission {
    const s = this.stats;
    const result = this.breakers.admit(s.upstream_rq_active, s.upstream_rq_pending_active);
    switch (result) {
      case 'admitted':
        s.upstream_rq_active += 1;
        break;
      case 'pending':
        s.upstream_cx_overflow += 1;
        s.upstream_rq_pending_total += 1;
        s.upstream_rq_pending_active += 1;
        this.pendingQueue.push(waiter);
        break;
      case 'overflow_requests':
        s.upstream_rq_overflow += 1;
        break;
      case 'overflow_pending':
        s.upstream_rq_pending_overflow += 1;
        break;
    }
    return result;
  }

  /** A pending request gave up (downstream left, route timeout). */
  cancelPending(waiter: PendingWaiter): void {
    const i = this.pendingQueue.indexOf(waiter);
    if (i >= 0) {
      this.pendingQueue.splice(i, 1);
      this.stats.upstream_rq_pending_active -= 1;
    }
  }

  /** An admitted request finished: its slot goes to the oldest pending request. */
  release(): void {
    const s = this.stats;
    s.upstream_rq_active -= 1;
    s.upstream_rq_completed += 1;
    const next = this.pendingQueue.shift();
    if (next) {
      s.upstream_rq_pending_active -= 1;
      s.upstream_rq_active += 1;
      next.admitted();
    } else if (this.retired) {
      this.closeIfIdle();
    }
  }

  // ------------------------------------------------------------------------------------------------ endpoints

  /**
   * Chooses the endpoint for one request or connection: load balanced among healthy endpoints (avoiding `avoid`,
   * the previous attempt's endpoint, when another is available), or the original destination.
   */
  pick(conn: DownstreamAddresses, hash: number | undefined, avoid?: Endpoint): Endpoint | undefined {
    if (this.spec.type === 'ORIGINAL_DST') return this.originalDestination(conn);
    this.outlier?.refresh();
    let ep = this.loadBalancer.pick(this.endpoints, hash);
    if (avoid !== undefined && ep === avoid && this.endpoints.healthy.length > 1) {
      for (let i = 1; i < HOST_SELECTION_ATTEMPTS && ep === avoid; i++) ep = this.loadBalancer.pick(this.endpoints, hash === undefined ? undefined : hash + i);
    }
    return ep;
  }

  private originalDestination(conn: DownstreamAddresses): Endpoint {
    const source = this.sourceFor(conn);
    const key = source === undefined ? formatAddress(conn.origDst) : `${formatAddress(conn.origDst)}|${source}`;
    let ep = this.endpoints.get(key);
    if (!ep) {
      ep = new Endpoint({ address: conn.origDst.address, port: conn.origDst.port, labels: {}, weight: 1 }, source);
      this.endpoints.add(ep);
      this.startSweeping();
    }
    return ep;
  }

  private sourceFor(conn: DownstreamAddresses): string | undefined {
    switch (this.spec.sourceMode) {
      case 'none':
        return undefined;
      case 'client':
        return conn.client.address;
      case 'inbound-passthrough':
        return conn.origDst.family === 6 ? '::6' : '127.0.0.6';
    }
  }

  /** The connect request for a TCP connection or an HTTP pool connection to this endpoint. */
  connectRequest(ep: Endpoint): ConnectRequest {
    // One immutable object per endpoint: the connector keeps what it derives from it (no allocation per connection).
    return (ep.connectRequest ??= {
      target: ep.address,
      ...(ep.source !== undefined
        ? {
            source: { address: ep.source, ...(this.spec.sourceMode === 'client' ? { portRange: PRESERVED_SOURCE_PORTS } : {}) },
            transparent: true,
          }
        : {}),
      ...(this.deps.bypassMark ? { mark: this.deps.bypassMark } : {}),
      timeoutMs: this.spec.connectTimeoutMs,
    });
  }

  /** The endpoint's HTTP pool, created on first use. */
  dispatcher(ep: Endpoint): HttpDispatcher {
    if (ep.pool === undefined) {
      ep.pool = new Http1Pool(
        ep,
        this.connectRequest(ep),
        this.deps.connector,
        this.stats,
        {
          maxConnections: this.spec.circuitBreakers.maxConnections,
          idleTimeoutMs: this.spec.idleTimeoutMs,
          maxRequestsPerConnection: this.spec.maxRequestsPerConnection,
        },
        this.deps.clock,
      );
    }
    return ep.pool;
  }

  /** Feeds an attempt's outcome (HTTP status, or LOCAL_ORIGIN_FAILURE) to outlier detection. */
  report(ep: Endpoint, status: number): void {
    this.outlier?.report(ep, status);
  }

  // ------------------------------------------------------------------------------------------------ TCP

  /** Accounts a proxied TCP connection; false (counted as overflow) when maxConnections is reached. */
  tcpOpened(): boolean {
    if (!this.breakers.allowConnection(this.stats.upstream_tcp_active)) {
      this.stats.upstream_tcp_overflow += 1;
      return false;
    }
    this.stats.upstream_tcp_total += 1;
    this.stats.upstream_tcp_active += 1;
    return true;
  }

  tcpClosed(): void {
    this.stats.upstream_tcp_active -= 1;
    if (this.retired) this.closeIfIdle();
  }

  // ------------------------------------------------------------------------------------------------ lifecycle

  /** New endpoints from a reload; endpoints that left have their pools closed once idle. */
  updateEndpoints(specs: readonly EndpointSpec[]): void {
    if (this.spec.type !== 'EDS') return;
    const removed = this.endpoints.update(specs);
    for (const ep of removed) {
      this.outlier?.forget(ep);
      void closePool(ep);
    }
  }

  /** Replaced by a reload: finish what is in flight, then close the pools. */
  retire(): void {
    this.retired = true;
    this.closeIfIdle();
  }

  private closeIfIdle(): void {
    const s = this.stats;
    if (s.upstream_rq_active > 0 || s.upstream_rq_pending_active > 0 || s.upstream_tcp_active > 0) return;
    this.stopSweeping();
    for (const ep of this.endpoints.all) void closePool(ep);
  }

  /** Closes everything now (process shutdown, tests). */
  async destroy(): Promise<void> {
    this.retired = true;
    this.stopSweeping();
    await Promise.all(this.endpoints.all.map((ep) => ep.pool?.destroy().catch(() => undefined)));
  }

  private startSweeping(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => this.sweep(), ORIGINAL_DST_SWEEP_MS);
    this.sweepTimer.unref();
  }

  private stopSweeping(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  /** Forgets original-destination endpoints with nothing in flight and no connection left. */
  private sweep(): void {
    for (const ep of [...this.endpoints.all]) {
      if (ep.stats.rq_active === 0 && ep.stats.cx_active === 0) {
        this.endpoints.remove(ep);
        void closePool(ep);
      }
    }
    if (this.endpoints.size === 0) this.stopSweeping();
  }
}

async function closePool(ep: Endpoint): Promise<void> {
  ep.removed = true;
  const pool = ep.pool;
  if (!pool) return;
  ep.pool = undefined;
  await pool.close().catch(() => undefined);
}
