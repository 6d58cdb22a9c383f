/**
 * The HTTP/1.1 keep-alive connection pool to one endpoint (Envoy's HTTP/1 conn pool): one request per connection at
 * a time, idle connections reused most-recent first, requests queued while every connection is busy and the circuit
 * breaker's connection limit is reached. Connections are opened only by sidelane's Connector (bypass mark,
 * preserved source) and only for a request that waits; they are counted per cluster and per endpoint.
 */
import type { Clock } from './clock';
import type { ClusterStats } from './cluster-stats';
import { UNLIMITED } from './circuit-breaker';
import type { Endpoint } from './endpoint';
import { Http1Connection, UpstreamResponseError, type ConnectionOwner, type ResponseHandler } from './http1-connection';
import type { UpstreamRequest } from './http1-request';
import type { Connector, ConnectRequest } from '../transport/connector';
import { UpstreamConnectError } from '../transport/connector';

export interface HttpPoolSettings {
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  /** 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
}

/** The pool, as a request's owner uses it (what cluster.dispatcher() returns). */
export interface HttpDispatcher {
  dispatch(request: UpstreamRequest, handler: ResponseHandler): void;
  /** Takes back a request that has not been given a connection yet; false if it has one (abort it instead). */
  withdraw(handler: ResponseHandler): boolean;
}

interface Waiter {
  readonly request: UpstreamRequest;
  readonly handler: ResponseHandler;
}

export class Http1Pool implements HttpDispatcher, ConnectionOwner {
  /** Idle connections, the most recently used last (taken first: warm, and lets the others reach their timeout). */
  private readonly idle: Http1Connection[] = [];
  private readonly queue: Waiter[] = [];
  /** Every open connection (destroy() reaches the busy ones through it). */
  private readonly open = new Set<Http1Connection>();
  private readonly maxConnections: number;
  /** Open connections plus connects in progress. */
  private connections = 0;
  private connecting = 0;
  private closing = false;
  private destroyed = false;
  private onDrained: (() => void) | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ep: Endpoint,
    private readonly connectRequest: ConnectRequest,
    private readonly connector: Connector,
    private readonly stats: ClusterStats,
    private readonly settings: HttpPoolSettings,
    private readonly clock: Clock,
  ) {
    this.maxConnections = settings.maxConnections >= UNLIMITED ? Infinity : Math.max(1, settings.maxConnections);
  }

  /** Connections open or being opened (tests, views). */
  get size(): number {
    return this.connections;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  dispatch(request: UpstreamRequest, handler: ResponseHandler): void {
    if (this.destroyed || this.closing) {
      handler.onError(new UpstreamResponseError('SIDELANE_ERR_UPSTREAM_RESET', `the pool to ${this.ep.hostPort} is closed`));
      return;
    }
    for (let conn = this.idle.pop(); conn !== undefined; conn = this.idle.pop()) {
      if (conn.destroyed) continue;
      if (conn.run(request, handler)) return;
      // Abandoned in onConnect before a byte was written: the connection is still good.
      this.idle.push(conn);
      return;
    }
    this.queue.push({ request, handler });
    this.connectForWaiters();
  }

  withdraw(handler: ResponseHandler): boolean {
    const q = this.queue;
    for (let i = 0; i < q.length; i++) {
      if (q[i]!.handler === handler) {
        q.splice(i, 1);
        this.closeIfDrained();
        return true;
      }
    }
    return false;
  }

  /** Opens connections for waiting requests: one per waiter not yet covered by a connect in progress. */
  private connectForWaiters(): void {
    while (this.queue.length > this.connecting && this.connections < this.maxConnections) this.openConnection();
  }

  private openConnection(): void {
    const { stats, ep } = this;
    this.connections += 1;
    this.connecting += 1;
    stats.upstream_cx_total += 1;
    ep.stats.cx_total += 1;
    this.connector.connect(this.connectRequest).then(
      (socket) => {
        this.connecting -= 1;
        stats.upstream_cx_active += 1;
        ep.stats.cx_active += 1;
        if (this.destroyed) {
          socket.destroy();
          stats.upstream_cx_active -= 1;
          ep.stats.cx_active -= 1;
          this.connections -= 1;
          return;
        }
        const conn = new Http1Connection(socket, this, {
          host: ep.hostPort,
          idleTimeoutMs: this.settings.idleTimeoutMs,
          maxRequests: this.settings.maxRequestsPerConnection,
        });
        this.open.add(conn);
        this.released(conn);
      },
      (err: unknown) => {
        this.connecting -= 1;
        this.connections -= 1;
        stats.upstream_cx_connect_fail += 1;
        ep.stats.cx_connect_fail += 1;
        if (err instanceof UpstreamConnectError && err.reason === 'ETIMEDOUT') stats.upstream_cx_connect_timeout += 1;
        // The connect was opened for the oldest waiter: it learns why (the exchange retries or answers 503 UF).
        const waiter = this.queue.shift();
        if (waiter !== undefined) waiter.handler.onError(err instanceof Error ? err : new Error(String(err)));
        if (!this.destroyed) this.connectForWaiters();
        this.closeIfDrained();
      },
    );
  }

  // ------------------------------------------------------------------------------------------------ ConnectionOwner

  /** A connection is free (new, or its response completed): the oldest waiter gets it, else it idles. */
  released(conn: Http1Connection): void {
    if (!this.destroyed) {
      for (let w = this.queue.shift(); w !== undefined; w = this.queue.shift()) {
        if (conn.run(w.request, w.handler)) return;
      }
    }
    if (this.closing) {
      conn.destroy();
      return;
    }
    conn.idleSince = this.clock.now();
    this.idle.push(conn);
    this.armSweep(conn.idleTimeoutMs);
  }

  closed(conn: Http1Connection): void {
    this.open.delete(conn);
    this.connections -= 1;
    this.stats.upstream_cx_active -= 1;
    this.ep.stats.cx_active -= 1;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    // A waiter may have been counting on the connection count being below the limit.
    if (!this.destroyed && this.queue.length > 0) this.connectForWaiters();
    this.closeIfDrained();
  }

  // ------------------------------------------------------------------------------------------------ idle timeout

  /** One timer per pool, not per connection: it closes what idled past its timeout and re-arms for the next. */
  private armSweep(ms: number): void {
    if (this.sweepTimer !== undefined) return;
    this.sweepTimer = setTimeout(sweepPool, ms, this);
    this.sweepTimer.unref();
  }

  /** @internal */
  sweep(): void {
    this.sweepTimer = undefined;
    const now = this.clock.now();
    let next = Infinity;
    for (const conn of [...this.idle]) {
      const left = conn.idleSince + conn.idleTimeoutMs - now;
      if (left <= 0) conn.destroy();
      else next = Math.min(next, left);
    }
    if (next !== Infinity) this.armSweep(next);
  }

  // ------------------------------------------------------------------------------------------------ lifecycle

  /** Closes idle connections now and the others once their request is done; resolves when none is left. */
  close(): Promise<void> {
    this.closing = true;
    for (const conn of this.idle.splice(0)) conn.destroy();
    return this.drained();
  }

  /** Closes everything now; waiting requests fail. */
  destroy(): Promise<void> {
    this.destroyed = true;
    this.closing = true;
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    const err = new UpstreamResponseError('SIDELANE_ERR_UPSTREAM_RESET', `the pool to ${this.ep.hostPort} was destroyed`);
    for (const w of this.queue.splice(0)) w.handler.onError(err);
    for (const conn of this.idle.splice(0)) conn.destroy();
    for (const conn of [...this.open]) conn.fail(err);
    return this.drained();
  }

  private drained(): Promise<void> {
    if (this.connections === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const prev = this.onDrained;
      this.onDrained = () => {
        prev?.();
        resolve();
      };
    });
  }

  private closeIfDrained(): void {
    if (!this.closing || this.connections > 0 || this.queue.length > 0) return;
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    const done = this.onDrained;
    this.onDrained = undefined;
    done?.();
  }
}

function sweepPool(pool: Http1Pool): void {
  pool.sweep();
}
