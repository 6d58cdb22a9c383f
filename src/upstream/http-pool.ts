/**
 * The HTTP/1.1 keep-alive connection pool to one endpoint: an undici Pool whose connections are opened by sidelane's
 * Connector (so they carry the bypass SO_MARK and, inbound, the preserved client source), counted per cluster and per
 * endpoint, one request per connection at a time (no pipelining, as Envoy's HTTP/1 pool).
 */
import type net from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { formatAddress } from '../transport/address';
import type { Connector, ConnectRequest } from '../transport/connector';
import { UpstreamConnectError } from '../transport/connector';
import type { ClusterStats } from './cluster-stats';
import { UNLIMITED } from './circuit-breaker';
import type { Endpoint } from './endpoint';

export interface HttpPoolSettings {
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  /** 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
}

/** Refuses a connection undici asks for although no attempt waits for one (see Endpoint.awaitingConnection). */
class NoAttemptWaiting extends Error {
  constructor() {
    super('no request waits for this connection');
    this.name = 'NoAttemptWaiting';
  }
}

type ConnectCallback = (err: Error | null, socket: net.Socket | null) => void;

export function createHttpPool(
  ep: Endpoint,
  request: ConnectRequest,
  connector: Connector,
  stats: ClusterStats,
  settings: HttpPoolSettings,
): Dispatcher {
  const connect = (_options: unknown, callback: ConnectCallback): void => {
    if (ep.awaitingConnection <= 0) {
      // Nobody waits for this connection (an attempt aborted in flight, re-queued by undici): do not open it.
      callback(new NoAttemptWaiting(), null);
      return;
    }
    stats.upstream_cx_total += 1;
    ep.stats.cx_total += 1;
    connector.connect(request).then(
      (socket) => {
        stats.upstream_cx_active += 1;
        ep.stats.cx_active += 1;
        socket.once('close', () => {
          stats.upstream_cx_active -= 1;
          ep.stats.cx_active -= 1;
        });
        callback(null, socket);
      },
      (err: unknown) => {
        stats.upstream_cx_connect_fail += 1;
        ep.stats.cx_connect_fail += 1;
        if (err instanceof UpstreamConnectError && err.reason === 'ETIMEDOUT') stats.upstream_cx_connect_timeout += 1;
        callback(err instanceof Error ? err : new Error(String(err)), null);
      },
    );
  };
  return new Pool(`http://${formatAddress(ep.address)}`, {
    connections: settings.maxConnections >= UNLIMITED ? null : settings.maxConnections,
    pipelining: 1,
    // Idle connections live up to the cluster's idle timeout (or the server's Keep-Alive hint, if shorter).
    keepAliveTimeout: settings.idleTimeoutMs,
    keepAliveMaxTimeout: settings.idleTimeoutMs,
    // Timeouts are the connection manager's (route timeout, per-try timeout), not undici's.
    headersTimeout: 0,
    bodyTimeout: 0,
    ...(settings.maxRequestsPerConnection > 0 ? { maxRequestsPerClient: settings.maxRequestsPerConnection } : {}),
    connect: connect as unknown as never,
  });
}
