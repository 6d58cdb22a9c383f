/**
 * TCP to a cluster (Envoy's tcp_proxy with a cluster): choose an endpoint (load balancing, ring hash by client
 * address), apply the connection circuit breaker, then proxy bytes; connect outcomes feed outlier detection and the
 * cluster's and endpoint's counters. A connection that cannot be given an upstream is reset, with its flag
 * (UH no healthy endpoint, UO overflow) published like any other close.
 */
import { UpstreamConnectError } from '../transport/connector';
import type { DownstreamConnection } from '../transport/downstream';
import { proxyTcp, type TcpDataPath, type TcpProxyObserver } from '../transport/tcp-proxy';
import { publishTcpClose, publishTcpOpen } from '../telemetry/events';
import type { Cluster } from './cluster';
import type { Endpoint } from './endpoint';
import { LOCAL_ORIGIN_FAILURE } from './outlier-detection';
import { hashKey } from './ring-hash';

class EndpointObserver implements TcpProxyObserver {
  constructor(
    private readonly cluster: Cluster,
    private readonly ep: Endpoint,
  ) {}

  connected(): void {
    const s = this.cluster.stats;
    s.upstream_cx_total += 1;
    s.upstream_cx_active += 1;
    this.ep.stats.cx_total += 1;
    this.ep.stats.cx_active += 1;
    this.cluster.report(this.ep, 200);
  }

  connectFailed(err: unknown): void {
    this.cluster.stats.upstream_cx_total += 1;
    this.cluster.stats.upstream_cx_connect_fail += 1;
    if (err instanceof UpstreamConnectError && err.reason === 'ETIMEDOUT') this.cluster.stats.upstream_cx_connect_timeout += 1;
    this.ep.stats.cx_total += 1;
    this.ep.stats.cx_connect_fail += 1;
    this.cluster.report(this.ep, LOCAL_ORIGIN_FAILURE);
    this.cluster.tcpClosed();
  }

  closed(): void {
    this.cluster.stats.upstream_cx_active -= 1;
    this.ep.stats.cx_active -= 1;
    this.cluster.tcpClosed();
  }
}

/** A connection that cannot be given an upstream: reset, counted as opened and closed with its flag. */
function refuse(conn: DownstreamConnection, cluster: Cluster, destinationService: string | undefined, flag: string): void {
  publishTcpOpen({ conn, cluster: cluster.name, ...(destinationService !== undefined ? { destinationService } : {}) });
  conn.reset();
  publishTcpClose({
    conn,
    cluster: cluster.name,
    bytesReceived: 0,
    bytesSent: 0,
    durationMs: Date.now() - conn.startedAt,
    responseFlags: flag,
    end: 'refused',
    ...(destinationService !== undefined ? { destinationService } : {}),
  });
}

/** Proxies the connection to one endpoint of `cluster`; returns at once (the outcome is published). Never throws. */
export function proxyTcpToCluster(conn: DownstreamConnection, cluster: Cluster, path: TcpDataPath, destinationService?: string): void {
  if (!cluster.tcpOpened()) {
    refuse(conn, cluster, destinationService, 'UO');
    return;
  }
  const lb = cluster.spec.loadBalancer;
  const hash = lb.policy === 'RING_HASH' && lb.hashKey.kind === 'sourceIp' ? hashKey(conn.client.address) : undefined;
  const ep = cluster.pick(conn, hash);
  if (ep === undefined) {
    cluster.tcpClosed();
    refuse(conn, cluster, destinationService, 'UH');
    return;
  }
  proxyTcp(
    conn,
    {
      cluster: cluster.name,
      destinationService,
      upstreamLabels: ep.labels,
      request: cluster.connectRequest(ep),
      idleTimeoutMs: cluster.spec.idleTimeoutMs,
      observer: new EndpointObserver(cluster, ep),
    },
    path,
  );
}
