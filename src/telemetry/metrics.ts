/**
 * Prometheus metrics (prom-client), one registry per worker process: Istio's standard metrics with their labels
 * (istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes,
 * istio_tcp_*), Envoy-named per-cluster upstream counters (envoy_cluster_*), and sidelane's own (capture path,
 * listener refusals, active connections, config reloads). Filled by subscribing to the data path's events and by
 * reading live cluster counters at scrape time — nothing here runs on the hot path itself. docs/metrics.md lists all.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
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
import { identityFromLabels, identityFromWorkload, namespaceOfHost, serviceNameOfHost, UNKNOWN_PEER, type PeerIdentity } from './identity';

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
const HTTP_LABELS = [...ISTIO_LABELS, 'response_code', 'grpc_response_status'] as const;

// Istio's default buckets (ms and bytes).
const DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const BYTES_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** What the metrics need from the live proxy, read at scrape time or per event. */
export interface MetricsSources {
  /** This proxy's workload (from the configuration). */
  workload(): WorkloadIdentity | undefined;
  /** Labels of the endpoint at a peer address, if the registry knows it (inbound source_*). */
  peer(address: string): { readonly host: string; readonly labels: Readonly<Record<string, string>> } | undefined;
  /** The live clusters. */
  clusters(): Iterable<Cluster>;
  /** Downstream connections open right now, by direction. */
  activeConnections(): { inbound: number; outbound: number };
  /** Name of the mesh cluster for source_cluster/destination_cluster (Istio's cluster id). */
  readonly meshCluster: string;
}

type Labels = Record<(typeof HTTP_LABELS)[number], string>;

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

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<string>;
  private readonly duration: Histogram<string>;
  private readonly requestBytes: Histogram<string>;
  private readonly responseBytes: Histogram<string>;
  private readonly tcpOpened: Counter<string>;
  private readonly tcpClosed: Counter<string>;
  private readonly tcpSent: Counter<string>;
  private readonly tcpReceived: Counter<string>;
  private readonly accepted: Counter<string>;
  private readonly refused: Counter<string>;
  private readonly reloads: Counter<string>;
  private readonly fdExhausted: Counter<string>;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly sources: MetricsSources) {
    const r = this.registry;
    this.requests = new Counter({ name: 'istio_requests_total', help: 'HTTP requests proxied (Istio standard metric)', labelNames: HTTP_LABELS, registers: [r] });
    this.duration = new Histogram({ name: 'istio_request_duration_milliseconds', help: 'HTTP request duration in ms', labelNames: HTTP_LABELS, buckets: DURATION_BUCKETS, registers: [r] });
    this.requestBytes = new Histogram({ name: 'istio_request_bytes', help: 'HTTP request body sizes', labelNames: HTTP_LABELS, buckets: BYTES_BUCKETS, registers: [r] });
    this.responseBytes = new Histogram({ name: 'istio_response_bytes', help: 'HTTP response body sizes', labelNames: HTTP_LABELS, buckets: BYTES_BUCKETS, registers: [r] });
    this.tcpOpened = new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened', labelNames: ISTIO_LABELS, registers: [r] });
    this.tcpClosed = new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed', labelNames: ISTIO_LABELS, registers: [r] });
    this.tcpSent = new Counter({ name: 'istio_tcp_sent_bytes_total', help: 'bytes sent to the downstream (response direction) on TCP connections, counted at close', labelNames: ISTIO_LABELS, registers: [r] });
    this.tcpReceived = new Counter({ name: 'istio_tcp_received_bytes_total', help: 'bytes received from the downstream (request direction) on TCP connections, counted at close', labelNames: ISTIO_LABELS, registers: [r] });
    this.accepted = new Counter({ name: 'sidelane_capture_connections_total', help: 'connections accepted on a captured listener, by capture path (hook, tproxy, redirect)', labelNames: ['direction', 'capture'], registers: [r] });
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
    for (const [stat, type, help] of CLUSTER_STATS) {
      r.registerMetric(new ClusterStatMetric(`envoy_cluster_${stat}`, `${help} (per cluster, Envoy's name)`, type, (s) => s[stat] as number, () => sources.clusters()) as never);
    }
    collectDefaultMetrics({ register: r });
    this.subscribe();
  }

  private subscribe(): void {
    const on = (channel: { subscribe(f: (m: unknown) => void): void; unsubscribe(f: (m: unknown) => void): void }, f: (m: never) => void): void => {
      const fn = f as (m: unknown) => void;
      channel.subscribe(fn);
      this.unsubscribe.push(() => channel.unsubscribe(fn));
    };
    on(channels.httpRequest, (e: HttpRequestEvent) => this.onHttp(e));
    on(channels.tcpOpen, (e: TcpOpenEvent) => this.tcpOpened.inc(this.tcpLabels(e, '-')));
    on(channels.tcpClose, (e: TcpCloseEvent) => this.onTcpClose(e));
    on(channels.connectionAccepted, (e: ConnectionAcceptedEvent) => this.accepted.inc({ direction: e.direction, capture: e.capture }));
    on(channels.listenerRefused, (e: ListenerRefusedEvent) => this.refused.inc({ listener: e.listener, reason: e.reason }));
    on(channels.configReload, (e: ConfigReloadEvent) => this.reloads.inc({ result: e.ok ? 'applied' : 'refused', trigger: e.trigger }));
    on(channels.fdExhausted, (e: FdExhaustedEvent) => this.fdExhausted.inc({ where: e.where }, e.refused));
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    this.unsubscribe.length = 0;
  }

  /** Istio labels: reporter, this side from the workload, the other side from the registry. */
  private labels(
    direction: 'inbound' | 'outbound',
    clientAddress: string,
    destinationService: string | undefined,
    upstreamLabels: Readonly<Record<string, string>> | undefined,
    protocol: string,
    flags: string,
  ): Record<(typeof ISTIO_LABELS)[number], string> {
    const self = identityFromWorkload(this.sources.workload());
    let source: PeerIdentity;
    let destination: PeerIdentity;
    if (direction === 'outbound') {
      source = self;
      destination = upstreamLabels || destinationService ? identityFromLabels(upstreamLabels, destinationService) : UNKNOWN_PEER;
    } else {
      const peer = this.sources.peer(clientAddress);
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

  private tcpLabels(e: TcpOpenEvent | TcpCloseEvent, flags: string): Record<string, string> {
    return this.labels(e.conn.direction, e.conn.client.address, e.destinationService, e.upstreamLabels, 'tcp', flags);
  }

  private onTcpClose(e: TcpCloseEvent): void {
    const labels = this.tcpLabels(e, e.responseFlags);
    this.tcpClosed.inc(labels);
    if (e.bytesSent > 0) this.tcpSent.inc(labels, e.bytesSent);
    if (e.bytesReceived > 0) this.tcpReceived.inc(labels, e.bytesReceived);
    // A connection refused before its open was counted (UH, UO…) still counts as opened and closed, as Envoy does.
  }

  private onHttp(e: HttpRequestEvent): void {
    const base = this.labels(e.conn.direction, e.conn.client.address, e.destinationService ?? hostOf(e.authority), e.upstreamLabels, 'http', e.responseFlags);
    const labels: Labels = { ...base, response_code: String(e.responseCode), grpc_response_status: '' };
    this.requests.inc(labels);
    this.duration.observe(labels, e.durationMs);
    this.requestBytes.observe(labels, e.requestBytes);
    this.responseBytes.observe(labels, e.responseBytes);
  }
}

function hostOf(authority: string): string | undefined {
  if (!authority) return undefined;
  const h = authority.startsWith('[') ? authority.slice(0, authority.indexOf(']') + 1) : authority.split(':')[0]!;
  return h || undefined;
}
