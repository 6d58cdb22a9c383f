/**
 * The HTTP/1.1 connection manager (Envoy's HCM): takes over a downstream connection the routers classified as HTTP,
 * gives it an HTTP/1.1 server codec (keep-alive, pipelining, 100-continue; src/http/http1-server-codec.ts), enforces
 * the request-headers and idle timeouts, and routes each request on its own through an HttpExchange. Requests use the newest routing snapshot; a connection keeps a reference to the snapshot
 * it was accepted with, to finish gracefully if its port stops being HTTP.
 */
import type { Direction, DownstreamConnection } from '../transport/downstream';
import { publishHttpRequest } from '../telemetry/events';
import type { Cluster } from '../upstream/cluster';
import type { Clock } from '../upstream/clock';
import type { RandomSource } from '../upstream/random-source';
import type { WorkloadIdentity } from '../telemetry/events';
import type { DownstreamRequest } from './downstream-request';
import type { DownstreamResponse } from './downstream-response';
import { HttpExchange } from './exchange';
import { DELAYED_CLOSE_MS, HEADERS_TIMEOUT, Http1ServerCodec, type CodecOwner, type Rejection } from './http1-server-codec';
import type { RouteTable } from './route-table';
import { formatResponseFlags } from './response-flags';

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

export class HttpConnectionManager implements CodecOwner {
  readonly direction: Direction;
  readonly routing: HttpRoutingSource;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly bufferLimitBytes: number;
  readonly maxHeaderBytes: number;
  /** While draining, every response carries `Connection: close` and idle keep-alive connections are closed. */
  draining = false;
  private readonly idleTimeoutMs: number;
  private readonly headersTimeoutMs: number;
  private readonly sweepEveryMs: number;
  private readonly codecs = new Set<Http1ServerCodec>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: HttpConnectionManagerOptions) {
    this.direction = options.direction;
    this.routing = options.routing;
    this.clock = options.clock;
    this.random = options.random;
    this.bufferLimitBytes = options.bufferLimitBytes ?? 64 * 1024;
    this.maxHeaderBytes = options.maxHeaderBytes ?? 60 * 1024;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 3_600_000;
    this.headersTimeoutMs = options.requestHeadersTimeoutMs ?? 10_000;
    // The timeouts are enforced by one sweep over the connections (no timer per connection), to within its period.
    const bound = this.headersTimeoutMs > 0 ? Math.min(this.headersTimeoutMs, this.idleTimeoutMs) : this.idleTimeoutMs;
    this.sweepEveryMs = Math.max(100, Math.min(1000, Math.floor(bound / 4) || 1000));
  }

  /** Takes over the connection; `initial` holds bytes already read from it (PROXY header remainder, sniffed bytes). */
  handle(ctx: HttpConnectionContext, initial?: Buffer): void {
    const codec = new Http1ServerCodec(this, ctx, ctx.conn.socket());
    this.codecs.add(codec);
    if (this.sweepTimer === undefined) {
      this.sweepTimer = setInterval(sweep, this.sweepEveryMs, this);
      this.sweepTimer.unref();
    }
    codec.open(initial);
  }

  // ------------------------------------------------------------------------------------------------ CodecOwner

  now(): number {
    return this.clock.now();
  }

  newExchange(codec: Http1ServerCodec, req: DownstreamRequest, res: DownstreamResponse): HttpExchange {
    return new HttpExchange(this, codec.context, req, res);
  }

  /** A request refused before it was routed (not HTTP, too slow): counted and logged like any request. */
  rejected(codec: Http1ServerCodec, rejection: Rejection): void {
    publishHttpRequest({
      conn: codec.context.conn,
      reporter: this.direction === 'outbound' ? 'source' : 'destination',
      workload: this.routing.current.workload,
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

  codecClosed(codec: Http1ServerCodec): void {
    this.codecs.delete(codec);
    if (this.codecs.size === 0 && this.sweepTimer !== undefined) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  }

  /**
   * @internal the periodic check: heads that take too long (408), keep-alive connections idle too long, connections
   * closed after their last response whose client has not closed its side.
   */
  sweep(): void {
    const now = this.clock.now();
    const headers = this.headersTimeoutMs;
    const idle = this.idleTimeoutMs;
    for (const codec of this.codecs) {
      if (codec.closingSince >= 0) {
        if (now - codec.closingSince >= DELAYED_CLOSE_MS) codec.destroy();
        continue;
      }
      if (codec.closing) continue;
      if (headers > 0 && codec.headerStartedAt >= 0 && now - codec.headerStartedAt >= headers) codec.refuse(HEADERS_TIMEOUT);
      else if (idle > 0 && codec.idleSince >= 0 && now - codec.idleSince >= idle) codec.destroy();
    }
  }

  /** Connections currently managed (admin views, drain). */
  get connectionCount(): number {
    return this.codecs.size;
  }

  /** Graceful drain: in-flight requests finish with `Connection: close`; idle keep-alive connections close now. */
  startDrain(): void {
    this.draining = true;
    this.closeIdleConnections();
  }

  /** Closes the connections that have no request in flight (nor one begun). */
  closeIdleConnections(): void {
    for (const codec of this.codecs) if (codec.idle) codec.destroy();
  }

  /** Destroys every connection (tests, forced shutdown). */
  destroyAll(): void {
    for (const codec of this.codecs) codec.destroy();
  }
}

function sweep(manager: HttpConnectionManager): void {
  manager.sweep();
}
