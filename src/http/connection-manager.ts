/**
 * The HTTP/1.1 connection manager (Envoy's HCM): takes over a downstream connection the routers classified as HTTP,
 * parses requests with Node's HTTP server (keep-alive, pipelining, 100-continue), and routes each request on its own
 * through an HttpExchange. Requests use the newest routing snapshot; a connection keeps a reference to the snapshot
 * it was accepted with, to finish gracefully if its port stops being HTTP.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Direction, DownstreamConnection } from '../transport/downstream';
import { publishHttpRequest } from '../telemetry/events';
import type { Cluster } from '../upstream/cluster';
import type { Clock } from '../upstream/clock';
import type { RandomSource } from '../upstream/random-source';
import type { WorkloadIdentity } from '../telemetry/events';
import { exchangeOf, HttpExchange } from './exchange';
import type { RouteTable } from './route-table';
import { formatResponseFlags, ResponseFlag } from './response-flags';

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
  /**
   * A request's header section must be complete this long after its first byte (or, on a new connection, after the
   * connection was accepted), else 408 and the connection is closed — the slowloris bound. 0 = none (Envoy's
   * default; see docs/cli.md `--request-headers-timeout`). Default 10 s.
   */
  readonly requestHeadersTimeoutMs?: number;
}

/** What the proxy answers, itself, to a request it cannot parse or that came too slowly (Node's wording). */
const REJECTIONS: Readonly<Record<string, { status: number; details: string; flag: number }>> = {
  HPE_HEADER_OVERFLOW: { status: 431, details: 'http1.headers_too_large', flag: ResponseFlag.DPE },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, details: 'http1.chunk_extensions_too_large', flag: ResponseFlag.DPE },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, details: 'request_header_timeout', flag: 0 },
};
const BAD_REQUEST = { status: 400, details: 'http1.codec_error', flag: ResponseFlag.DPE };

const kContext = Symbol('sidelane.httpContext');
const kManager = Symbol('sidelane.httpManager');

type ContextSocket = { [kContext]?: HttpConnectionContext; [kManager]?: HttpConnectionManager };

// Module-level (`this` is the socket): no closure per connection.
function onManagedSocketClose(this: import('node:net').Socket & ContextSocket): void {
  this[kManager]?.forget(this);
}

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
    const headersTimeout = options.requestHeadersTimeoutMs ?? 10_000;
    this.server = http.createServer({
      requestTimeout: 0,
      headersTimeout,
      // How often Node looks for requests past headersTimeout: the bound is enforced to within this.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeout / 4) || 1000)),
      maxHeaderSize: options.maxHeaderBytes ?? 60 * 1024,
      noDelay: true,
      joinDuplicateHeaders: false,
      // The exchange answers a missing Host itself (400, counted and logged like any rejected request).
      requireHostHeader: false,
    });
    this.server.keepAliveTimeout = options.idleTimeoutMs ?? 3_600_000;
    // This server never listens (connections are handed to it), but Node starts its connection tracking — which
    // enforces headersTimeout and makes closeIdleConnections() work for the drain — on 'listening'.
    this.server.emit('listening');
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => this.reject(err, socket));
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

  /**
   * A request Node's parser refused (malformed, smuggling-shaped, oversized headers) or whose headers came too
   * slowly: answer as Node would (400/431/413/408, `Connection: close`), close, and count it like any request —
   * nothing of it is ever forwarded. Socket errors (a reset client) just close.
   */
  private reject(err: NodeJS.ErrnoException, socket: net.Socket): void {
    const code = err.code ?? '';
    const rejection = REJECTIONS[code] ?? (code.startsWith('HPE_') ? BAD_REQUEST : undefined);
    // A response already on its way must not be corrupted by a second status line (Node's own rule). Node sets the
    // socket's message to null once a keep-alive connection's response has finished: no request in flight then
    // (reading through null threw here and took the worker down — a valid request, then a bad one; found by fuzzing).
    const inFlight = (socket as unknown as { _httpMessage?: (http.ServerResponse & { _headerSent?: boolean }) | null })._httpMessage ?? undefined;
    const answered = rejection !== undefined && socket.writable && !inFlight?._headerSent;
    if (answered) socket.write(`HTTP/1.1 ${rejection.status} ${http.STATUS_CODES[rejection.status]}\r\nConnection: close\r\n\r\n`);
    // A request already handed to an exchange (its body failed to parse) is reported by the exchange.
    if (inFlight !== undefined && rejection !== undefined) exchangeOf(inFlight)?.downstreamProtocolError(answered ? rejection.status : 0, rejection.details);
    socket.destroy();
    const ctx = (socket as unknown as ContextSocket)[kContext];
    if (rejection === undefined || ctx === undefined || inFlight !== undefined) return;
    publishHttpRequest({
      conn: ctx.conn,
      reporter: this.direction === 'outbound' ? 'source' : 'destination',
      ...(this.routing.current.workload ? { workload: this.routing.current.workload } : {}),
      requestId: '-',
      method: '-',
      authority: '-',
      path: '-',
      protocol: 'HTTP/1.1',
      responseCode: rejection.status,
      responseFlags: formatResponseFlags(rejection.flag),
      responseCodeDetails: rejection.details,
      requestBytes: 0,
      responseBytes: 0,
      durationMs: 0,
      attempts: 0,
      startTime: Date.now(),
    });
  }

  /** Takes over the connection; `initial` holds bytes already read from it (PROXY header remainder, sniffed bytes). */
  handle(ctx: HttpConnectionContext, initial?: Buffer): void {
    const socket = ctx.conn.socket();
    const tagged = socket as import('node:net').Socket & ContextSocket;
    tagged[kContext] = ctx;
    tagged[kManager] = this;
    this.sockets.add(socket);
    socket.once('close', onManagedSocketClose);
    if (initial !== undefined && initial.length > 0) socket.unshift(initial);
    this.server.emit('connection', socket);
    // Node's HTTP server reads straight from the handle; resuming also delivers the unshifted bytes first.
    socket.resume();
  }

  /** @internal a managed socket closed. */
  forget(socket: import('node:net').Socket): void {
    this.sockets.delete(socket);
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
