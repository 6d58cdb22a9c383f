/**
 * Per-cluster and per-endpoint counters, named as Envoy names them (`upstream_rq_total`, `upstream_cx_active`, …).
 * Plain numeric fields on the cluster object: the data path increments them directly; admin views and metrics read
 * them.
 */

export class ClusterStats {
  // connections
  upstream_cx_total = 0;
  upstream_cx_active = 0;
  upstream_cx_connect_fail = 0;
  upstream_cx_connect_timeout = 0;
  /** Requests that had to wait because maxConnections was reached (Envoy: upstream_cx_overflow). */
  upstream_cx_overflow = 0;
  // requests
  upstream_rq_total = 0;
  upstream_rq_active = 0;
  upstream_rq_completed = 0;
  upstream_rq_pending_total = 0;
  upstream_rq_pending_active = 0;
  /** Requests refused because maxPendingRequests was reached. */
  upstream_rq_pending_overflow = 0;
  /** Requests refused because maxRequests was reached (Envoy counts these in upstream_rq_pending_overflow too). */
  upstream_rq_overflow = 0;
  upstream_rq_2xx = 0;
  upstream_rq_3xx = 0;
  upstream_rq_4xx = 0;
  upstream_rq_5xx = 0;
  /** Requests that hit the route timeout. */
  upstream_rq_timeout = 0;
  upstream_rq_per_try_timeout = 0;
  /** Requests whose upstream connection closed or reset before the response completed. */
  upstream_rq_rx_reset = 0;
  /** Requests answered 503 UH: no healthy endpoint. */
  upstream_rq_no_healthy = 0;
  // retries
  upstream_rq_retry = 0;
  upstream_rq_retry_success = 0;
  upstream_rq_retry_overflow = 0;
  upstream_rq_retry_limit_exceeded = 0;
  upstream_rq_retry_backoff_exponential = 0;
  // TCP connections proxied (tcp_proxy)
  upstream_tcp_total = 0;
  upstream_tcp_active = 0;
  upstream_tcp_overflow = 0;
  // outlier detection
  outlier_detection_ejections_total = 0;
  outlier_detection_ejections_active = 0;
  outlier_detection_ejections_overflow = 0;
  outlier_detection_ejections_consecutive_5xx = 0;
  outlier_detection_ejections_consecutive_gateway_failure = 0;
  outlier_detection_unejections_total = 0;

  /** Counts a finished request by status class. */
  countStatus(status: number): void {
    if (status >= 500) this.upstream_rq_5xx += 1;
    else if (status >= 400) this.upstream_rq_4xx += 1;
    else if (status >= 300) this.upstream_rq_3xx += 1;
    else if (status >= 200) this.upstream_rq_2xx += 1;
  }

  toJSON(): Record<string, number> {
    return { ...this } as unknown as Record<string, number>;
  }

  /** Sum of all overflows (connections, pending, requests, retries, TCP): the circuit-breaker trips. */
  get overflowTotal(): number {
    return (
      this.upstream_cx_overflow +
      this.upstream_rq_pending_overflow +
      this.upstream_rq_overflow +
      this.upstream_rq_retry_overflow +
      this.upstream_tcp_overflow
    );
  }
}

export class EndpointStats {
  cx_total = 0;
  cx_active = 0;
  cx_connect_fail = 0;
  rq_total = 0;
  rq_active = 0;
  rq_success = 0;
  rq_error = 0;
  rq_timeout = 0;

  toJSON(): Record<string, number> {
    return { ...this } as unknown as Record<string, number>;
  }
}
