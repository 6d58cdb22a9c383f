/**
 * The TCP proxy (Envoy's network/tcp_proxy): connect the downstream connection to one upstream and relay bytes
 * until both sides close. Connection failures close the downstream with a reset (the client sees the refusal,
 * not a fake success); the outcome is published as an event.
 */
import { formatAddress } from './address';
import type { Connector, ConnectRequest } from './connector';
import type { DownstreamConnection } from './downstream';
import { relay } from './relay';
import { publishTcpClose, publishTcpOpen } from '../telemetry/events';

export interface TcpProxyRoute {
  readonly cluster: string;
  readonly destinationService?: string;
  /** Labels of the chosen endpoint, carried into the close event (destination_app/version). */
  readonly upstreamLabels?: Readonly<Record<string, string>>;
  readonly request: ConnectRequest;
  readonly idleTimeoutMs: number;
  /** Told about the upstream connection's fate (cluster counters, outlier detection). */
  readonly observer?: TcpProxyObserver;
}

export interface TcpProxyObserver {
  connected(): void;
  connectFailed(err: unknown): void;
  /** After connected(), when both directions are done. */
  closed(): void;
}

/** Proxies one connection; resolves when it is over. Never rejects. */
export async function proxyTcp(conn: DownstreamConnection, route: TcpProxyRoute, connector: Connector): Promise<void> {
  const { socket } = conn;
  publishTcpOpen({
    conn,
    cluster: route.cluster,
    ...(route.destinationService ? { destinationService: route.destinationService } : {}),
    ...(route.upstreamLabels ? { upstreamLabels: route.upstreamLabels } : {}),
  });
  // The client may leave while we connect: abort the attempt, do not leak the upstream socket.
  const abort = new AbortController();
  let downstreamGone = false;
  const onEarlyClose = (): void => {
    downstreamGone = true;
    abort.abort();
  };
  socket.once('close', onEarlyClose);
  socket.on('error', () => undefined);
  // Keep bytes the client sends before the upstream is ready (TCP ports never wait for them: server-first works).
  socket.pause();
  let upstream;
  try {
    upstream = await connector.connect({ ...route.request, signal: abort.signal });
  } catch (err) {
    route.observer?.connectFailed(err);
    socket.off('close', onEarlyClose);
    if (!downstreamGone) socket.resetAndDestroy();
    publishTcpClose({
      conn,
      cluster: route.cluster,
      bytesReceived: 0,
      bytesSent: 0,
      durationMs: Date.now() - conn.startedAt,
      responseFlags: downstreamGone ? 'DC' : 'UF',
      end: 'upstream_connect_failure',
      ...(route.destinationService ? { destinationService: route.destinationService } : {}),
    });
    return;
  }
  socket.off('close', onEarlyClose);
  route.observer?.connected();
  if (downstreamGone || socket.destroyed) {
    upstream.destroy();
    route.observer?.closed();
    return;
  }
  socket.resume();
  const result = await relay(socket, upstream, {
    idleTimeoutMs: route.idleTimeoutMs,
    ...(conn.initialData ? { initialUp: conn.initialData } : {}),
  });
  route.observer?.closed();
  publishTcpClose({
    conn,
    cluster: route.cluster,
    upstreamHost: formatAddress(route.request.target),
    bytesReceived: result.bytesUp,
    bytesSent: result.bytesDown,
    durationMs: Date.now() - conn.startedAt,
    responseFlags: result.end === 'idle_timeout' ? 'SI' : result.end === 'upstream_reset' ? 'UR' : result.end === 'downstream_reset' ? 'DR' : '-',
    end: result.end,
    ...(route.destinationService ? { destinationService: route.destinationService } : {}),
    ...(route.upstreamLabels ? { upstreamLabels: route.upstreamLabels } : {}),
  });
}
