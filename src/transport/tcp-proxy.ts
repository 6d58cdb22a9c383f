/**
 * The TCP proxy (Envoy's network/tcp_proxy): connect the downstream connection to one upstream and relay bytes
 * until both sides close. A connection still held as a raw fd (native acceptor) is connected with a raw fd and
 * relayed by the native relay — no net.Socket, no promise and no closure per connection; any other goes through the
 * JavaScript relay. Both publish the same events: connection failures close the downstream with a reset (the client
 * sees the refusal, not a fake success), and the outcome carries the same byte counts, end reasons and flags.
 */
import { addon } from '../native/addon';
import { formatAddress } from './address';
import { isRawConnector, UpstreamConnectError, type Connector, type ConnectRequest, type RawConnector } from './connector';
import type { DownstreamConnection } from './downstream';
import type { NativeRelay } from './native-relay';
import { relay, type RelayResult } from './relay';
import { publishTcpClose, publishTcpOpen, type TcpCloseEvent } from '../telemetry/events';

export interface TcpProxyRoute {
  readonly cluster: string;
  readonly destinationService?: string | undefined;
  /** Labels of the chosen endpoint, carried into the close event (destination_app/version). */
  readonly upstreamLabels?: Readonly<Record<string, string>> | undefined;
  readonly request: ConnectRequest;
  readonly idleTimeoutMs: number;
  /** Told about the upstream connection's fate (cluster counters, outlier detection). */
  readonly observer?: TcpProxyObserver | undefined;
}

export interface TcpProxyObserver {
  connected(): void;
  connectFailed(err: unknown): void;
  /** After connected(), when both directions are done. */
  closed(): void;
}

/** How TCP bytes can move: the connector, and the native relay for connections still held as raw fds. */
export interface TcpDataPath {
  readonly connector: Connector;
  /** Absent: every connection goes through the JavaScript relay. */
  readonly relay?: NativeRelay | undefined;
}

/** Proxies one connection; returns at once, the outcome is published when it is over. Never throws. */
export function proxyTcp(conn: DownstreamConnection, route: TcpProxyRoute, path: TcpDataPath): void {
  publishTcpOpen({
    conn,
    cluster: route.cluster,
    ...(route.destinationService !== undefined ? { destinationService: route.destinationService } : {}),
    ...(route.upstreamLabels !== undefined ? { upstreamLabels: route.upstreamLabels } : {}),
  });
  if (path.relay !== undefined && conn.rawFd >= 0 && isRawConnector(path.connector)) {
    new NativeTcpSession(conn, route, path.relay, path.connector).start();
    return;
  }
  void proxyWithSockets(conn, route, path.connector);
}

function flagsOf(result: RelayResult): string {
  switch (result.end) {
    case 'idle_timeout':
      return 'SI';
    case 'upstream_reset':
      return 'UR';
    case 'downstream_reset':
      return 'DR';
    default:
      return '-';
  }
}

function closeEvent(conn: DownstreamConnection, route: TcpProxyRoute, result: RelayResult): TcpCloseEvent {
  return {
    conn,
    cluster: route.cluster,
    upstreamHost: formatAddress(route.request.target),
    bytesReceived: result.bytesUp,
    bytesSent: result.bytesDown,
    durationMs: Date.now() - conn.startedAt,
    responseFlags: flagsOf(result),
    end: result.end,
    ...(route.destinationService !== undefined ? { destinationService: route.destinationService } : {}),
    ...(route.upstreamLabels !== undefined ? { upstreamLabels: route.upstreamLabels } : {}),
  };
}

function connectFailed(conn: DownstreamConnection, route: TcpProxyRoute, downstreamGone: boolean, err: unknown): void {
  publishTcpClose({
    conn,
    cluster: route.cluster,
    bytesReceived: 0,
    bytesSent: 0,
    durationMs: Date.now() - conn.startedAt,
    responseFlags: downstreamGone ? 'DC' : 'UF',
    end: 'upstream_connect_failure',
    upstreamFailureReason: err instanceof UpstreamConnectError ? err.reason : 'ERROR',
    ...(route.destinationService !== undefined ? { destinationService: route.destinationService } : {}),
  });
}

/** The client left between a successful connect and the start of the relay. */
function leftBeforeRelay(conn: DownstreamConnection, route: TcpProxyRoute): void {
  publishTcpClose({
    conn,
    cluster: route.cluster,
    upstreamHost: formatAddress(route.request.target),
    bytesReceived: 0,
    bytesSent: 0,
    durationMs: Date.now() - conn.startedAt,
    responseFlags: 'DC',
    end: 'downstream_reset',
    ...(route.destinationService !== undefined ? { destinationService: route.destinationService } : {}),
    ...(route.upstreamLabels !== undefined ? { upstreamLabels: route.upstreamLabels } : {}),
  });
}

// ---------------------------------------------------------------------------------------------- native data path

/**
 * One natively relayed connection: the only object the TCP proxy allocates for it (it is the context of the
 * connect and of the relay, and what a drain cancels while the connect is pending).
 */
class NativeTcpSession {
  private handle = -1;

  constructor(
    readonly conn: DownstreamConnection,
    readonly route: TcpProxyRoute,
    private readonly relay: NativeRelay,
    private readonly connector: RawConnector,
  ) {}

  start(): void {
    this.conn.pending = this;
    const handle = this.connector.connectRaw(this.route.request, this, onUpstreamConnect);
    if (this.conn.pending === this) this.handle = handle; // else it completed synchronously
  }

  /** The drain deadline arrived while connecting. */
  cancel(): void {
    if (this.handle >= 0) this.connector.cancel(this.handle);
  }

  connected(fd: number, err: UpstreamConnectError | undefined): void {
    const { conn, route } = this;
    conn.pending = undefined;
    this.handle = -1;
    if (err !== undefined) {
      route.observer?.connectFailed(err);
      // The socket path learns that the client left (and aborts the connect) from its close event; a raw fd is
      // asked once, now: a reset client is DC, as there.
      const gone = conn.aborted || addon().peerReset(conn.rawFd);
      conn.reset();
      connectFailed(conn, route, gone, err);
      return;
    }
    route.observer?.connected();
    if (conn.aborted) {
      addon().resetFd(fd);
      conn.reset();
      route.observer?.closed();
      leftBeforeRelay(conn, route);
      return;
    }
    try {
      const initial = conn.initialData;
      // Both fds come from the native acceptor and connector (SOCK_NONBLOCK): no O_NONBLOCK check needed.
      const request = initial !== undefined ? { idleTimeoutMs: route.idleTimeoutMs, initialUp: initial, nonBlocking: true } : { idleTimeoutMs: route.idleTimeoutMs, nonBlocking: true };
      conn.relayNatively(this.relay, fd, request, this, onRelayDone);
    } catch {
      // The relay refused the fds (cannot happen for two live sockets): both are still ours.
      addon().resetFd(fd);
      conn.reset();
      route.observer?.closed();
      leftBeforeRelay(conn, route);
    }
  }

  relayed(result: RelayResult): void {
    this.route.observer?.closed();
    publishTcpClose(closeEvent(this.conn, this.route, result));
  }
}

function onUpstreamConnect(fd: number, err: UpstreamConnectError | undefined, session: NativeTcpSession): void {
  session.connected(fd, err);
}

function onRelayDone(result: RelayResult, session: NativeTcpSession): void {
  session.relayed(result);
}

// ---------------------------------------------------------------------------------------------- socket data path

async function proxyWithSockets(conn: DownstreamConnection, route: TcpProxyRoute, connector: Connector): Promise<void> {
  const socket = conn.socket();
  // The client may leave while we connect: abort the attempt, do not leak the upstream socket.
  const abort = new AbortController();
  let downstreamGone = false;
  const onEarlyClose = (): void => {
    downstreamGone = true;
    abort.abort();
  };
  socket.once('close', onEarlyClose);
  // The drain deadline cancels the connect, then the relay (both sides reset).
  conn.pending = { cancel: () => abort.abort() };
  // Keep bytes the client sends before the upstream is ready (TCP ports never wait for them: server-first works).
  socket.pause();
  let upstream;
  try {
    upstream = await connector.connect({ ...route.request, signal: abort.signal });
  } catch (err) {
    conn.pending = undefined;
    route.observer?.connectFailed(err);
    socket.off('close', onEarlyClose);
    if (!downstreamGone) socket.resetAndDestroy();
    connectFailed(conn, route, downstreamGone || conn.aborted, err);
    return;
  }
  socket.off('close', onEarlyClose);
  route.observer?.connected();
  if (downstreamGone || socket.destroyed || abort.signal.aborted) {
    conn.pending = undefined;
    upstream.destroy();
    route.observer?.closed();
    leftBeforeRelay(conn, route);
    return;
  }
  socket.resume();
  const result = await relay(socket, upstream, {
    idleTimeoutMs: route.idleTimeoutMs,
    signal: abort.signal,
    ...(conn.initialData ? { initialUp: conn.initialData } : {}),
  });
  conn.pending = undefined;
  route.observer?.closed();
  publishTcpClose(closeEvent(conn, route, result));
}
