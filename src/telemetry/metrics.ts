/**
 * Prometheus metrics (prom-client), one registry per worker process: Istio's standard metrics with their labels
 * (istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes,
 * istio_tcp_*), Envoy-named per-cluster upstream counters (envoy_cluster_*), and sidelane's own (capture path,
 * listener refusals, active connections, config reloads). Filled by subscribing to the data path's events and by
 * reading live cluster counters at scrape time. On the hot path an event costs a few Map lookups and additions: the
 * Istio label sets are resolved once per distinct peer, service and flags and kept (series-metrics.ts), not hashed
 * per event as prom-client would. docs/metrics.md lists all.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Cluster } from '../upstream/cluster';
import type { ClusterStats } from '../upstream/cluster-stats';
import {
  channels,
  type ConfigReloadEvent,
  type ConnectionAcceptedEvent,
  type HttpRequestEvent,
  type FdExhaustedEvent,
  type ListenerRefusedEvent,
  type TcpCloseEvent,
  type TcpOpenEvent,
  type WorkloadIdentity,
} from './events';
import { PROM_CLIENT_SAMPLER_MS, registerEventLoopMetrics } from './event-loop-metrics';
import { identityFromLabels, identityFromWorkload, namespaceOfHost, serviceNameOfHost, UNKNOWN_PEER, type PeerIdentity } from './identity';
import { SeriesCounter, SeriesHistogram, SeriesSet, type Series } from './series-metrics';

export const ISTIO_LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_canonical_service',
  'source_canonical_revision',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
] as const;
export const HTTP_LABELS = [...ISTIO_LABELS, 'response_code', 'grpc_response_status'] as const;

// Istio's default buckets (ms and bytes).
const DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const BYTES_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** What the metrics need from the live proxy, read at scrape time or per event. */
export interface MetricsSources {
  /** This proxy's workload (from the configuration). */
  workload(): WorkloadIdentity | undefined;
  /**
   * Labels of the endpoint at a peer address, if the registry knows it (inbound source_*). The same object for the
   * same peer within one generation: label sets are remembered by it.
   */
  peer(address: string): { readonly host: string; readonly labels: Readonly<Record<string, string>> } | undefined;
  /** Changes whenever the workload or the registry may have (a reload): remembered label sets are recomputed. */
  generation?(): unknown;
  /** The live clusters. */
  clusters(): Iterable<Cluster>;
  /** Downstream connections open right now, by direction. */
  activeConnections(): { inbound: number; outbound: number };
  /** The native relay engine's live counts (native data path only): relays in flight, pipes in use and pooled. */
  relay?(): { readonly active: number; readonly pipesInUse: number; readonly pipesPooled: number } | undefined;
  /** Name of the mesh cluster for source_cluster/destination_cluster (Istio's cluster id). */
  readonly meshCluster: string;
}

/** A counter-like metric computed at scrape time from the clusters' own counters (no double bookkeeping). */
class ClusterStatMetric {
  readonly aggregator = 'sum' as const;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    private readonly read: (s: ClusterStats, c: Cluster) => number,
    private readonly clusters: () => Iterable<Cluster>,
  ) {}
  get(): { name: string; help: string; type: string; aggregator: string; values: { value: number; labels: Record<string, string> }[] } {
    const values = [];
    for (const c of this.clusters()) values.push({ value: this.read(c.stats, c), labels: { cluster_name: c.name } });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
  reset(): void {}
}

const CLUSTER_STATS: readonly [keyof ClusterStats, 'counter' | 'gauge', string][] = [
  ['upstream_cx_total', 'counter', 'upstream connections opened'],
  ['upstream_cx_active', 'gauge', 'upstream connections open now'],
  ['upstream_cx_connect_fail', 'counter', 'upstream connect failures'],
  ['upstream_cx_connect_timeout', 'counter', 'upstream connect timeouts'],
  ['upstream_cx_overflow', 'counter', 'times the max connections circuit breaker tripped'],
  ['upstream_rq_total', 'counter', 'upstream requests'],
  ['upstream_rq_active', 'gauge', 'upstream requests in flight'],
  ['upstream_rq_pending_active', 'gauge', 'requests waiting for a connection'],
  ['upstream_rq_pending_overflow', 'counter', 'requests refused by the max pending requests circuit breaker'],
  ['upstream_rq_overflow', 'counter', 'requests refused by the max requests circuit breaker'],
  ['upstream_rq_timeout', 'counter', 'requests that hit the route timeout'],
  ['upstream_rq_per_try_timeout', 'counter', 'attempts that hit the per-try timeout'],
  ['upstream_rq_rx_reset', 'counter', 'requests whose upstream connection reset before the response completed'],
  ['upstream_rq_retry', 'counter', 'request retries'],
  ['upstream_rq_retry_success', 'counter', 'retries that succeeded'],
  ['upstream_rq_retry_overflow', 'counter', 'retries refused by the retry budget / max retries circuit breaker'],
  ['upstream_rq_retry_limit_exceeded', 'counter', 'requests that exhausted their retries'],
  ['upstream_tcp_total', 'counter', 'TCP connections proxied to this cluster'],
  ['upstream_tcp_overflow', 'counter', 'TCP connections refused by the max connections circuit breaker'],
  ['outlier_detection_ejections_total', 'counter', 'endpoints ejected by outlier detection'],
  ['outlier_detection_ejections_active', 'gauge', 'endpoints ejected now'],
  ['outlier_detection_ejections_overflow', 'counter', 'ejections not done because of max ejection percent'],
];

// Slots of the Istio series (series-metrics.ts): counters and histograms share one label set per series.
const TCP_OPENED = 0;
const TCP_CLOSED = 1;
const TCP_SENT = 2;
const TCP_RECEIVED = 3;
const HTTP_REQUESTS = 0;
const HTTP_DURATION = 0;
const HTTP_REQUEST_BYTES = 1;
const HTTP_RESPONSE_BYTES = 2;

/** Stands for "no value" in the memo's keys (Map keys must be defined to share one entry). */
const NONE = Symbol('none');

/** Nested maps from the values a label set is computed from to its Series: a few Map lookups per event. */
class SeriesMemo {
  private root = new Map<unknown, unknown>();

  get(keys: readonly unknown[], create: () => Series): Series {
    let m = this.root;
    for (let i = 0; i < keys.length - 1; i++) {
      const k = keys[i] ?? NONE;
      let next = m.get(k) as Map<unknown, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        m.set(k, next);
      }
      m = next;
    }
    const last = keys[keys.length - 1] ?? NONE;
    let s = m.get(last) as Series | undefined;
    if (s === undefined) {
      s = create();
      m.set(last, s);
    }
    return s;
  }

  clear(): void {
    this.root = new Map();
  }
}

/** A SeriesSet that never holds two series with the same labels (the memo may be rebuilt after a reload). */
class UniqueSeries {
  private readonly byLabels = new Map<string, Series>();
  constructor(readonly set: SeriesSet) {}

  of(labels: Readonly<Record<string, string>>): Series {
    const key = Object.values(labels).join('\u0000');
    let s = this.byLabels.get(key);
    if (s === undefined) {
      s = this.set.create(labels);
      this.byLabels.set(key, s);
    }
    return s;
  }
}

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly tcp = new UniqueSeries(new SeriesSet(4, 0));
  private readonly http = new UniqueSeries(new SeriesSet(1, 3));
  private readonly capture = new UniqueSeries(new SeriesSet(1, 0));
  private readonly memo = new SeriesMemo();
  /** What the memo's label sets were computed under (the routing generation): a reload starts a new memo. */
  private memoGeneration: unknown = NONE;
  private self: PeerIdentity = UNKNOWN_PEER;
  private readonly refused: Counter<string>;
  private readonly reloads: Counter<string>;
  private readonly fdExhausted: Counter<string>;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly sources: MetricsSources) {
    const r = this.registry;
    const reg = (m: SeriesCounter | SeriesHistogram): void => r.registerMetric(m as never);
    reg(new SeriesCounter('istio_requests_total', 'HTTP requests proxied (Istio standard metric)', this.http.set, HTTP_REQUESTS));
    reg(new SeriesHistogram('istio_request_duration_milliseconds', 'HTTP request duration in ms', DURATION_BUCKETS, this.http.set, HTTP_DURATION));
    reg(new SeriesHistogram('istio_request_bytes', 'HTTP request body sizes', BYTES_BUCKETS, this.http.set, HTTP_REQUEST_BYTES));
    reg(new SeriesHistogram('istio_response_bytes', 'HTTP response body sizes', BYTES_BUCKETS, this.http.set, HTTP_RESPONSE_BYTES));
    reg(new SeriesCounter('istio_tcp_connections_opened_total', 'TCP connections opened', this.tcp.set, TCP_OPENED));
    reg(new SeriesCounter('istio_tcp_connections_closed_total', 'TCP connections closed', this.tcp.set, TCP_CLOSED));
    reg(new SeriesCounter('istio_tcp_sent_bytes_total', 'bytes sent to the downstream (response direction) on TCP connections, counted at close', this.tcp.set, TCP_SENT));
    reg(new SeriesCounter('istio_tcp_received_bytes_total', 'bytes received from the downstream (request direction) on TCP connections, counted at close', this.tcp.set, TCP_RECEIVED));
    reg(new SeriesCounter('sidelane_capture_connections_total', 'connections accepted on a captured listener, by capture path (hook, tproxy, redirect)', this.capture.set, 0));
    this.refused = new Counter({ name: 'sidelane_listener_refused_total', help: 'connections refused by a listener before routing (bad or missing PROXY v2 header, direct connections to a listener port, draining, fd exhaustion)', labelNames: ['listener', 'reason'], registers: [r] });
    this.reloads = new Counter({ name: 'sidelane_config_reloads_total', help: 'configuration applications by result', labelNames: ['result', 'trigger'], registers: [r] });
    this.fdExhausted = new Counter({ name: 'sidelane_fd_exhausted_total', help: 'connections refused because no file descriptor was left (EMFILE, ENFILE…), by where: accept (downstream) or connect (upstream)', labelNames: ['where'], registers: [r] });
    const sources_ = sources;
    new Gauge({
      name: 'sidelane_downstream_cx_active',
      help: 'downstream connections open now, by direction',
      labelNames: ['direction'],
      registers: [r],
      collect() {
        const a = sources_.activeConnections();
        this.set({ direction: 'inbound' }, a.inbound);
        this.set({ direction: 'outbound' }, a.outbound);
      },
    });
    // Leak checks read these: after the load every relay has ended, and the fds a worker keeps beyond its
    // baseline are exactly its pooled pipes (two each, bounded by the pool size).
    new Gauge({
      name: 'sidelane_relay_active',
      help: 'TCP connections being relayed by the native relay now (native data path)',
      registers: [r],
      collect() {
        this.set(sources_.relay?.()?.active ?? 0);
      },
    });
    new Gauge({
      name: 'sidelane_relay_pipes',
      help: 'pipes of the native relay: in_use (bytes in flight) or pooled (empty, kept for reuse; 2 fds each)',
      labelNames: ['state'],
      registers: [r],
      collect() {
        const s = sources_.relay?.();
        this.set({ state: 'in_use' }, s?.pipesInUse ?? 0);
        this.set({ state: 'pooled' }, s?.pipesPooled ?? 0);
      },
    });
    for (const [stat, type, help] of CLUSTER_STATS) {
      r.registerMetric(new ClusterStatMetric(`envoy_cluster_${stat}`, `${help} (per cluster, Envoy's name)`, type, (s) => s[stat] as number, () => sources.clusters()) as never);
    }
    // prom-client's event-loop-delay sampler (a 10 ms timer by default) is left idle; ours samples every 100 ms.
    collectDefaultMetrics({ register: r, eventLoopMonitoringPrecision: PROM_CLIENT_SAMPLER_MS });
    this.unsubscribe.push(registerEventLoopMetrics(r));
    this.subscribe();
  }

  private subscribe(): void {
    const on = (channel: { subscribe(f: (m: unknown) => void): void; unsubscribe(f: (m: unknown) => void): void }, f: (m: never) => void): void => {
      const fn = f as (m: unknown) => void;
      channel.subscribe(fn);
      this.unsubscribe.push(() => channel.unsubscribe(fn));
    };
    on(channels.httpRequest, (e: HttpRequestEvent) => this.onHttp(e));
    on(channels.tcpOpen, (e: TcpOpenEvent) => this.tcpSeries(e, '-').inc(TCP_OPENED));
    on(channels.tcpClose, (e: TcpCloseEvent) => this.onTcpClose(e));
    on(channels.connectionAccepted, (e: ConnectionAcceptedEvent) => this.onAccepted(e));
    on(channels.listenerRefused, (e: ListenerRefusedEvent) => this.refused.inc({ listener: e.listener, reason: e.reason }, e.count ?? 1));
    on(channels.configReload, (e: ConfigReloadEvent) => this.reloads.inc({ result: e.ok ? 'applied' : 'refused', trigger: e.trigger }));
    on(channels.fdExhausted, (e: FdExhaustedEvent) => this.fdExhausted.inc({ where: e.where }, e.refused));
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    this.unsubscribe.length = 0;
  }

  /** The memo is valid for one routing generation (workload and registry); a reload starts a new one. */
  private checkGeneration(): void {
    const g = this.sources.generation?.() ?? this.sources.workload();
    if (g === this.memoGeneration) return;
    this.memoGeneration = g;
    this.memo.clear();
    this.self = identityFromWorkload(this.sources.workload());
  }

  /** Istio labels: reporter, this side from the workload, the other side from the registry. */
  private labels(
    direction: 'inbound' | 'outbound',
    peer: { readonly host: string; readonly labels: Readonly<Record<string, string>> } | undefined,
    destinationService: string | undefined,
    upstreamLabels: Readonly<Record<string, string>> | undefined,
    protocol: string,
    flags: string,
  ): Record<(typeof ISTIO_LABELS)[number], string> {
    const self = this.self;
    let source: PeerIdentity;
    let destination: PeerIdentity;
    if (direction === 'outbound') {
      source = self;
      destination = upstreamLabels || destinationService ? identityFromLabels(upstreamLabels, destinationService) : UNKNOWN_PEER;
    } else {
      source = peer ? identityFromLabels(peer.labels, peer.host) : UNKNOWN_PEER;
      destination = self;
    }
    const service = destinationService ?? 'unknown';
    const mesh = this.sources.meshCluster;
    return {
      reporter: direction === 'outbound' ? 'source' : 'destination',
      source_workload: source.workload,
      source_workload_namespace: source.namespace,
      source_principal: source.principal,
      source_app: source.app,
      source_version: source.version,
      source_canonical_service: source.canonicalService,
      source_canonical_revision: source.canonicalRevision,
      source_cluster: source === UNKNOWN_PEER ? 'unknown' : mesh,
      destination_workload: destination.workload,
      destination_workload_namespace: destination.namespace !== 'unknown' ? destination.namespace : namespaceOfHost(destinationService),
      destination_principal: destination.principal,
      destination_app: destination.app,
      destination_version: destination.version,
      destination_service: service,
      destination_service_name: serviceNameOfHost(destinationService),
      destination_service_namespace: namespaceOfHost(destinationService),
      destination_canonical_service: destination.canonicalService,
      destination_canonical_revision: destination.canonicalRevision,
      destination_cluster: destination === UNKNOWN_PEER ? 'unknown' : mesh,
      request_protocol: protocol,
      response_flags: flags,
      connection_security_policy: 'none',
    };
  }

  /** The series of a TCP event: resolved from what its labels depend on, built only the first time. */
  private tcpSeries(e: TcpOpenEvent | TcpCloseEvent, flags: string): Series {
    this.checkGeneration();
    const { direction } = e.conn;
    const peer = direction === 'inbound' ? this.sources.peer(e.conn.client.address) : undefined;
    const keys = [direction, direction === 'inbound' ? peer : e.upstreamLabels, e.destinationService, flags];
    return this.memo.get(keys, () => this.tcp.of(this.labels(direction, peer, e.destinationService, e.upstreamLabels, 'tcp', flags)));
  }

  private onTcpClose(e: TcpCloseEvent): void {
    const s = this.tcpSeries(e, e.responseFlags);
    s.inc(TCP_CLOSED);
    if (e.bytesSent > 0) s.inc(TCP_SENT, e.bytesSent);
    if (e.bytesReceived > 0) s.inc(TCP_RECEIVED, e.bytesReceived);
    // A connection refused before its open was counted (UH, UO…) still counts as opened and closed, as Envoy does.
  }

  private onHttp(e: HttpRequestEvent): void {
    this.checkGeneration();
    const { direction } = e.conn;
    const service = e.destinationService ?? hostOf(e.authority);
    const peer = direction === 'inbound' ? this.sources.peer(e.conn.client.address) : undefined;
    const keys = ['http', direction, direction === 'inbound' ? peer : e.upstreamLabels, service, e.responseFlags, e.responseCode];
    const s = this.memo.get(keys, () => {
      const base = this.labels(direction, peer, service, e.upstreamLabels, 'http', e.responseFlags);
      return this.http.of({ ...base, response_code: String(e.responseCode), grpc_response_status: '' });
    });
    s.inc(HTTP_REQUESTS);
    s.observe(HTTP_DURATION, DURATION_BUCKETS, e.durationMs);
    s.observe(HTTP_REQUEST_BYTES, BYTES_BUCKETS, e.requestBytes);
    s.observe(HTTP_RESPONSE_BYTES, BYTES_BUCKETS, e.responseBytes);
  }

  private onAccepted(e: ConnectionAcceptedEvent): void {
    this.memo.get(['capture', e.direction, e.capture], () => this.capture.of({ direction: e.direction, capture: e.capture })).inc(0);
  }
}

function hostOf(authority: string): string | undefined {
  if (!authority) return undefined;
  if (authority.charCodeAt(0) === 91 /* [ */) return authority.slice(0, authority.indexOf(']') + 1) || undefined;
  const colon = authority.indexOf(':');
  return (colon < 0 ? authority : authority.slice(0, colon)) || undefined;
}
