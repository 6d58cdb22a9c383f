/**
 * Access logs (Envoy's, as JSON lines through pino): one entry per proxied TCP connection and per HTTP request, with
 * timing, bytes each way, original destination, route, cluster, upstream host, response code and flags, and the
 * calling process (pid, uid, name) when the connect() hook supplied it. Subscribes to the data path's events.
 */
import type pino from 'pino';
import { formatAddress } from '../transport/address';
import type { DownstreamConnection } from '../transport/downstream';
import { channels, type HttpRequestEvent, type TcpCloseEvent } from './events';

function common(conn: DownstreamConnection): Record<string, unknown> {
  return {
    direction: conn.direction,
    capture: conn.capture,
    connection_id: conn.id,
    downstream_remote_address: formatAddress(conn.client),
    original_dst: formatAddress(conn.origDst),
    ...(conn.caller ? { caller: { pid: conn.caller.pid, uid: conn.caller.uid, comm: conn.caller.comm } } : {}),
  };
}

export function tcpEntry(e: TcpCloseEvent): Record<string, unknown> {
  return {
    type: 'tcp',
    start_time: new Date(e.conn.startedAt).toISOString(),
    ...common(e.conn),
    upstream_cluster: e.cluster,
    upstream_host: e.upstreamHost ?? '-',
    destination_service: e.destinationService ?? '-',
    bytes_received: e.bytesReceived,
    bytes_sent: e.bytesSent,
    duration: e.durationMs,
    response_flags: e.responseFlags,
    connection_end: e.end,
    ...(e.upstreamFailureReason !== undefined ? { upstream_transport_failure_reason: e.upstreamFailureReason } : {}),
  };
}

export function httpEntry(e: HttpRequestEvent): Record<string, unknown> {
  return {
    type: 'http',
    start_time: new Date(e.startTime).toISOString(),
    ...common(e.conn),
    method: e.method,
    path: e.path,
    protocol: e.protocol,
    authority: e.authority,
    response_code: e.responseCode,
    response_flags: e.responseFlags,
    response_code_details: e.responseCodeDetails,
    bytes_received: e.requestBytes,
    bytes_sent: e.responseBytes,
    duration: e.durationMs,
    upstream_service_time: e.upstreamServiceTimeMs ?? '-',
    x_forwarded_for: e.forwardedFor ?? '-',
    user_agent: e.userAgent ?? '-',
    request_id: e.requestId,
    route_name: e.routeName ?? '-',
    upstream_cluster: e.cluster ?? '-',
    upstream_host: e.upstreamHost ?? '-',
    destination_service: e.destinationService ?? '-',
    attempts: e.attempts,
  };
}

/** Subscribes an access logger to the events; returns the unsubscribe function. */
export function subscribeAccessLog(log: pino.Logger): () => void {
  const onTcp = (m: unknown): void => {
    if (log.isLevelEnabled('info')) log.info(tcpEntry(m as TcpCloseEvent));
  };
  const onHttp = (m: unknown): void => {
    if (log.isLevelEnabled('info')) log.info(httpEntry(m as HttpRequestEvent));
  };
  channels.tcpClose.subscribe(onTcp);
  channels.httpRequest.subscribe(onHttp);
  return () => {
    channels.tcpClose.unsubscribe(onTcp);
    channels.httpRequest.unsubscribe(onHttp);
  };
}
