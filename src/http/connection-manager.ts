/**
 * The HTTP/1.1 connection manager (Envoy's HCM): takes over a downstream connection the routers classified as HTTP,
 * parses requests with Node's HTTP server (keep-alive, pipelining, 100-continue), and routes each request on its own
 * through an HttpExchange. Requests use the newest routing snapshot; a connection keeps a reference to the snapshot
 * it was accepted with, to finish gracefully if its port stops being HTTP.
 */
import http from 'node:http';
import type { Direction, DownstreamConnection } from '../transport/downstream';
import type { Cluster } from '../upstream/cluster';
import type { Clock } from '../upstream/clock';
import type { RandomSource } from '../upstream/random-source';
import type { WorkloadIdentity } from '../telemetry/events';
import { HttpExchange } from './exchange';
import type { RouteTable } from './route-table';

/** The routing state an HTTP request needs: route tables by listener port, clusters by name. */
export interface HttpRoutingSnapshot {
  readonly version: number;
  /** This proxy's workload, for telemetry (from the configuration). */
  readonly workload: WorkloadIdentity | undefined;
  routeTable(direction: Direction, port: number): RouteTable | undefined;
  cluster(name: string): Cluster | undefined;
}

/** Where the newest snapshot is (swapped atomically on reload). */
export interface HttpRoutingSource {
  readonly current: HttpRoutingSnapshot;
}

/** What the router decided about a connection when it was accepted. */
export interface HttpConnectionContext {
  readonly conn: DownstreamConnection;
  /** The listener port (original destination port) whose route table applies. */
  readonly port: number;
  /** The service owning the original destination, if known: its virtual host serves requests whose Host matches none. */
  readonly serviceHost: string | undefined;
  /** The snapshot at accept time. */
  readonly snapshot: HttpRoutingSnapshot;
}

export interface HttpConnectionManagerOptions {
  readonly direction: Direction;
  readonly routing: HttpRoutingSource;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Downstream keep-alive idle timeout (Envoy's HCM idle_timeout; default 1h). */
  readonly idleTimeoutMs?: number;
  /** Request bodies up to this size are buffered so retries can replay them (default 64 KiB). */
  readonly bufferLimitBytes?: number;
  /** Largest request header section accepted (default 60 KiB, Envoy's). */
  readonly maxHeaderBytes?: number;
}

const kContext = Symbol('sidelane.httpContext');

type ContextSocket = { [kContext]?: HttpConnectionContext };

export class HttpConnectionManager {
  readonly direction: Direction;
  readonly routing: HttpRoutingSource;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly bufferLimitBytes: number;
  /** While draining, every response carries `Connection: close` and idle keep-alive connections are closed. */
  draining = false;
  private readonly server: http.Server;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(options: HttpConnectionManagerOptions) {
    this.direction = options.direction;
    this.routing = options.routing;
    this.clock = options.clock;
    this.random = options.random;
    this.bufferLimitBytes = options.bufferLimitBytes ?? 64 * 1024;
    this.server = http.createServer({
      requestTimeout: 0,
      maxHeaderSize: options.maxHeaderBytes ?? 60 * 1024,
      noDelay: true,
      joinDuplicateHeaders: false,
    });
    this.server.keepAliveTimeout = options.idleTimeoutMs ?? 3_600_000;
    // A client FIN ends the connection and resets its in-flight request (flag DC), as Envoy's HTTP/1 codec does;
    // Node's default (httpAllowHalfOpen = false) gives exactly that.
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const ctx = (req.socket as unknown as ContextSocket)[kContext];
      if (ctx === undefined) {
        res.writeHead(500).end();
        return;
      }
      new HttpExchange(this, ctx, req, res).start();
    });
  }

  /** Takes over the connection; `initial` holds bytes already read from it (PROXY header remainder, sniffed bytes). */
  handle(ctx: HttpConnectionContext, initial?: Buffer): void {
    const socket = ctx.conn.socket;
    (socket as unknown as ContextSocket)[kContext] = ctx;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    if (initial !== undefined && initial.length > 0) socket.unshift(initial);
    this.server.emit('connection', socket);
    // Node's HTTP server reads straight from the handle; resuming also delivers the unshifted bytes first.
    socket.resume();
  }

  /** Connections currently managed (admin views, drain). */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Graceful drain: in-flight requests finish with `Connection: close`; idle keep-alive connections close now. */
  startDrain(): void {
    this.draining = true;
    this.server.closeIdleConnections();
  }

  /** Closes idle keep-alive connections and stops accepting requests on busy ones after their response. */
  closeIdleConnections(): void {
    this.server.closeIdleConnections();
  }

  /** Destroys every connection (tests, forced shutdown). */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}
