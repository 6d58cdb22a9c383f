/**
 * One downstream request's trip through the proxy (Envoy's router filter): virtual host and route selection, the
 * weighted cluster, circuit-breaker admission (or a place in the pending queue), attempts against load-balanced
 * endpoints with retries, per-try and route timeouts, and the response streamed back with backpressure. Every way
 * it can end — response, local reply (NR, UH, UF, UO, UT…), client gone — ends in finish(), which releases what it
 * held and publishes one event.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { Cluster, PendingWaiter } from '../upstream/cluster';
import type { Endpoint } from '../upstream/endpoint';
import { LOCAL_ORIGIN_FAILURE } from '../upstream/outlier-detection';
import { hashKey } from '../upstream/ring-hash';
import { UpstreamConnectError } from '../transport/connector';
import { channels, publishHttpRequest } from '../telemetry/events';
import type { HttpConnectionContext, HttpConnectionManager, HttpRoutingSnapshot } from './connection-manager';
import type { DownstreamRequest } from './downstream-request';
import type { DownstreamResponse } from './downstream-response';
import { downstreamResponseHeaders, newRequestId, upstreamRequestHeaders } from './headers';
import type { RequestSink } from './http1-server-codec';
import { connectFailureBody, LOCAL_REPLY, writeLocalReply } from './local-reply';
import { formatResponseFlags, ResponseFlag } from './response-flags';
import type { AttemptFailure, RetryPolicy } from './retry-policy';
import type { MatchInput } from './route-match';
import type { Route, WeightedClusterSpec } from './route-table';
import { UpstreamAttempt, type AttemptOwner } from './upstream-attempt';

// Module-level timer callbacks: no closure is allocated per request.
function onRouteTimeout(ex: HttpExchange): void {
  ex.routeTimeout();
}
function onPerTryTimeout(ex: HttpExchange): void {
  ex.perTryTimeout();
}
function onBackoffDone(ex: HttpExchange): void {
  ex.backoffDone();
}

export class HttpExchange implements MatchInput, PendingWaiter, AttemptOwner, RequestSink {
  // MatchInput
  readonly method: string;
  readonly path: string;
  readonly pathOnly: string;
  readonly authority: string;
  private query: URLSearchParams | undefined;

  private readonly startedAt: number;
  private readonly startTime: number;
  private requestId = '';
  private flags = 0;
  private details = 'via_upstream';
  private responseCode = 0;
  private route: Route | undefined;
  private virtualHost: string | undefined;
  private destination: WeightedClusterSpec | undefined;
  private cluster: Cluster | undefined;
  private retry: RetryPolicy | undefined;
  private hash: number | undefined;
  private drain = false;
  private snapshot: HttpRoutingSnapshot | undefined;

  private holdsSlot = false;
  private waiting = false;
  private retryActive = false;
  private committed = false;
  private done = false;
  private fromUpstream = false;

  private upstreamHeaders: string[] = [];
  private body: Buffer | Readable | null = null;
  private bodyChunks: Buffer[] | undefined;
  /** A body too large to keep for retries, streamed upstream as it comes. */
  private bodyStream: PassThrough | undefined;
  private bodyPaused = false;
  private bodyReady = false;
  private replayable = true;

  private attempt: UpstreamAttempt | undefined;
  private attempts = 0;
  private lastEndpoint: Endpoint | undefined;
  private lastFailure: AttemptFailure | undefined;
  private lastFailureReason = '';
  private resumeFn: (() => void) | undefined;
  private upstreamServiceTime: number | undefined;

  private routeTimer: NodeJS.Timeout | undefined;
  private perTryTimer: NodeJS.Timeout | undefined;
  private backoffTimer: NodeJS.Timeout | undefined;

  private requestBytes = 0;
  private responseBytes = 0;

  constructor(
    private readonly manager: HttpConnectionManager,
    private readonly ctx: HttpConnectionContext,
    private readonly req: DownstreamRequest,
    private readonly res: DownstreamResponse,
  ) {
    this.startedAt = manager.clock.now();
    this.startTime = Date.now();
    this.method = req.method;
    let target = req.url;
    let authority = req.host ?? '';
    if (target.charCodeAt(0) !== 47 /* / */ && /^https?:\/\//i.test(target)) {
      // Absolute-form request target (a client configured with a proxy): the URL names the authority.
      try {
        const u = new URL(target);
        target = `${u.pathname}${u.search}`;
        authority = u.host;
      } catch {
        // leave as is; it will not match any route
      }
    }
    this.path = target;
    const q = target.indexOf('?');
    this.pathOnly = q < 0 ? target : target.slice(0, q);
    this.authority = authority;
  }

  // ------------------------------------------------------------------------------------------------ MatchInput

  header(name: string): string | undefined {
    return this.req.header(name);
  }

  queryParam(name: string): string | undefined {
    if (this.query === undefined) {
      const q = this.path.indexOf('?');
      this.query = new URLSearchParams(q < 0 ? '' : this.path.slice(q + 1));
    }
    return this.query.get(name) ?? undefined;
  }

  // ------------------------------------------------------------------------------------------------ start

  start(): void {
    const { req, ctx, manager } = this;
    const existing = req.requestId;
    this.requestId = existing !== undefined && existing !== '' ? existing : newRequestId();

    if (req.isHttp11 && req.host === undefined) {
      // RFC 9112 3.2: an HTTP/1.1 request without Host is answered 400 (Node's parser would do it silently).
      this.drain = true;
      this.localReply(400, '', ResponseFlag.DPE, 'missing_host_header');
      return;
    }
    // New requests see the newest configuration; a connection whose port is no longer HTTP finishes on the
    // configuration it was accepted with and is closed after this response (drained, as Envoy drains listeners).
    let snapshot = manager.routing.current;
    let table = snapshot.routeTable(manager.direction, ctx.port);
    if (table === undefined) {
      snapshot = ctx.snapshot;
      table = snapshot.routeTable(manager.direction, ctx.port);
      this.drain = true;
    }
    if (manager.draining) this.drain = true;
    this.snapshot = snapshot;
    const vh =
      table === undefined
        ? undefined
        : (table.findVirtualHost(this.authority) ??
          (ctx.serviceHost !== undefined ? table.virtualHostForService(ctx.serviceHost) : undefined) ??
          table.catchAll);
    const route = vh?.match(this);
    if (vh === undefined || route === undefined) {
      this.localReply(LOCAL_REPLY.noRoute.status, LOCAL_REPLY.noRoute.body, ResponseFlag.NR, 'route_not_found');
      return;
    }
    this.virtualHost = vh.name;
    this.route = route;
    const action = route.action;
    if (action.kind === 'direct') {
      this.localReply(action.status, action.body, 0, 'direct_response');
      return;
    }
    const destination = route.pickCluster(manager.random);
    this.destination = destination;
    const cluster = snapshot.cluster(destination.cluster);
    if (cluster === undefined) {
      this.localReply(LOCAL_REPLY.noCluster.status, LOCAL_REPLY.noCluster.body, ResponseFlag.NC, 'cluster_not_found');
      return;
    }
    this.cluster = cluster;
    this.retry = route.retry;
    this.hash = this.hashFor(cluster);

    switch (cluster.admit(this)) {
      case 'admitted':
        this.holdsSlot = true;
        break;
      case 'pending':
        this.waiting = true;
        break;
      default:
        this.localReply(LOCAL_REPLY.overflow.status, LOCAL_REPLY.overflow.body, ResponseFlag.UO, 'upstream_reset_before_response_started{overflow}');
        return;
    }
    if (action.timeoutMs > 0) this.routeTimer = setTimeout(onRouteTimeout, action.timeoutMs, this);

    this.upstreamHeaders = upstreamRequestHeaders(req.rawHeaders, req.connection, this.requestId, existing === undefined || existing === '', req.forwardedProto === undefined);
    if (!req.hasBody) {
      this.bodyReady = true;
      if (this.holdsSlot) this.sendAttempt();
    } else {
      // Buffer the body (up to the limit) so retries can replay it; past the limit, stream it and give up retries.
      this.bodyChunks = [];
    }
  }

  private hashFor(cluster: Cluster): number | undefined {
    const lb = cluster.spec.loadBalancer;
    if (lb.policy !== 'RING_HASH') return undefined;
    const source = lb.hashKey;
    if (source.kind === 'sourceIp') return hashKey(this.ctx.conn.client.address);
    const value = source.kind === 'header' ? this.header(source.name.toLowerCase()) : this.queryParam(source.name);
    return value === undefined ? undefined : hashKey(value);
  }

  // ------------------------------------------------------------------------------------------------ request body

  requestData(chunk: Buffer): void {
    if (this.done) return; // nobody reads it any more: the codec discards the rest of the body
    this.requestBytes += chunk.length;
    const stream = this.bodyStream;
    if (stream !== undefined) {
      if (!stream.write(chunk)) this.pauseBody(stream);
      return;
    }
    const chunks = this.bodyChunks;
    if (chunks === undefined) return;
    chunks.push(chunk);
    if (this.requestBytes <= this.manager.bufferLimitBytes) return;
    // Too large to keep for retries: stream what we have and the rest.
    const pass = new PassThrough();
    for (const c of chunks) pass.write(c);
    this.bodyChunks = undefined;
    this.bodyStream = pass;
    this.body = pass;
    this.replayable = false;
    this.bodyReady = true;
    if (pass.writableNeedDrain) this.pauseBody(pass);
    if (this.holdsSlot && this.attempt === undefined && !this.done) this.sendAttempt();
  }

  /** The upstream takes the streamed body slower than the client sends it: stop reading the client until it drains. */
  private pauseBody(stream: PassThrough): void {
    if (this.bodyPaused) return;
    this.bodyPaused = true;
    this.req.pause();
    stream.once('drain', () => this.resumeBody());
  }

  private resumeBody(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    this.req.resume();
  }

  requestEnd(): void {
    if (this.bodyStream !== undefined) {
      this.bodyStream.end();
      return;
    }
    if (this.bodyChunks === undefined) return;
    this.body = this.bodyChunks.length === 1 ? this.bodyChunks[0]! : Buffer.concat(this.bodyChunks);
    this.bodyChunks = undefined;
    this.bodyReady = true;
    if (this.holdsSlot && this.attempt === undefined && !this.done) this.sendAttempt();
  }

  // ------------------------------------------------------------------------------------------------ admission

  /** Our turn after waiting in the pending queue. */
  admitted(): void {
    this.waiting = false;
    this.holdsSlot = true;
    if (this.done) {
      this.releaseSlot();
      return;
    }
    if (this.bodyReady) this.sendAttempt();
  }

  // ------------------------------------------------------------------------------------------------ attempts

  private sendAttempt(): void {
    const cluster = this.cluster!;
    const ep = cluster.pick(this.ctx.conn, this.hash, this.lastEndpoint);
    if (ep === undefined) {
      cluster.stats.upstream_rq_no_healthy += 1;
      this.localReply(LOCAL_REPLY.noHealthyUpstream.status, LOCAL_REPLY.noHealthyUpstream.body, ResponseFlag.UH, 'no_healthy_upstream');
      return;
    }
    this.attempts += 1;
    this.lastEndpoint = ep;
    cluster.stats.upstream_rq_total += 1;
    const attempt = new UpstreamAttempt(this, ep, this.manager.clock.now());
    this.attempt = attempt;
    const perTry = this.retry?.perTryTimeoutMs ?? 0;
    if (perTry > 0) this.perTryTimer = setTimeout(onPerTryTimeout, perTry, this);
    attempt.send(cluster.dispatcher(ep), { path: this.path, method: this.method, headers: this.upstreamHeaders, body: this.body });
  }

  onUpstreamHeaders(attempt: UpstreamAttempt, status: number, headers: string[], resume: () => void): boolean {
    this.clearPerTry();
    const cluster = this.cluster!;
    cluster.report(attempt.endpoint, status);
    cluster.stats.countStatus(status);
    this.upstreamServiceTime = Math.round(this.manager.clock.now() - attempt.startedAt);
    if (this.retry !== undefined && this.retry.retriableStatus(status)) {
      attempt.endpoint.stats.rq_error += 1;
      if (this.scheduleRetry()) {
        attempt.discarded = true; // its body drains unseen; the connection stays reusable
        this.attempt = undefined;
        return true;
      }
    } else if (status >= 500) {
      attempt.endpoint.stats.rq_error += 1;
    } else {
      attempt.endpoint.stats.rq_success += 1;
    }
    this.committed = true;
    this.fromUpstream = true;
    this.responseCode = status;
    if (this.retryActive && !this.retry!.retriableStatus(status)) cluster.stats.upstream_rq_retry_success += 1;
    const out = downstreamResponseHeaders(headers);
    out.push('x-envoy-upstream-service-time', String(this.upstreamServiceTime));
    if (this.drain) out.push('connection', 'close');
    this.resumeFn = resume;
    try {
      this.res.writeHead(status, out);
    } catch {
      // A header Node refuses to write (invalid characters): answer 502 rather than crash.
      attempt.cancel('invalid response headers');
      this.committed = false;
      this.fromUpstream = false;
      this.localReply(502, '', ResponseFlag.UPE, 'upstream_response_headers_invalid');
      return false;
    }
    return true;
  }

  onUpstreamData(chunk: Buffer): boolean {
    this.responseBytes += chunk.length;
    // false: the codec calls resumeUpstream() when the client's socket drains.
    return this.res.write(chunk);
  }

  resumeUpstream(): void {
    this.resumeFn?.();
  }

  onUpstreamComplete(_attempt: UpstreamAttempt): void {
    this.attempt = undefined;
    this.res.end();
    this.finish();
  }

  onUpstreamError(attempt: UpstreamAttempt, err: Error): void {
    const failure: AttemptFailure = err instanceof UpstreamConnectError ? 'connect_failure' : 'reset';
    this.attemptFailed(attempt, failure, err instanceof UpstreamConnectError ? err.reason : err.message);
  }

  private attemptFailed(attempt: UpstreamAttempt, failure: AttemptFailure, reason: string): void {
    this.clearPerTry();
    this.attempt = undefined;
    const cluster = this.cluster!;
    cluster.report(attempt.endpoint, LOCAL_ORIGIN_FAILURE);
    if (failure === 'per_try_timeout') attempt.endpoint.stats.rq_timeout += 1;
    else attempt.endpoint.stats.rq_error += 1;
    this.lastFailure = failure;
    this.lastFailureReason = reason;
    if (this.committed) {
      // The response already started: nothing to retry, the client sees the truncation as a reset.
      cluster.stats.upstream_rq_rx_reset += 1;
      this.flags |= failure === 'per_try_timeout' ? ResponseFlag.UT : ResponseFlag.UC;
      this.details = 'upstream_reset_after_response_started';
      this.res.destroy();
      this.finish();
      return;
    }
    if (this.retry !== undefined && this.retry.retriableFailure(failure) && this.scheduleRetry()) return;
    this.replyForFailure();
  }

  private replyForFailure(): void {
    switch (this.lastFailure) {
      case 'connect_failure':
        this.localReply(503, connectFailureBody(this.lastFailureReason, this.attempts > 1), ResponseFlag.UF, 'upstream_reset_before_response_started{connection_failure}');
        return;
      case 'per_try_timeout':
        this.localReply(LOCAL_REPLY.timeout.status, LOCAL_REPLY.timeout.body, ResponseFlag.UT, 'upstream_per_try_timeout');
        return;
      default:
        this.cluster!.stats.upstream_rq_rx_reset += 1;
        this.localReply(LOCAL_REPLY.connectionTermination.status, LOCAL_REPLY.connectionTermination.body, ResponseFlag.UC, 'upstream_reset_before_response_started{connection_termination}');
    }
  }

  /** Schedules the next attempt after backoff; false (with URX or UO noted) when no retry is allowed. */
  private scheduleRetry(): boolean {
    const cluster = this.cluster!;
    const retry = this.retry!;
    if (!this.replayable || retry.attempts === 0) return false;
    if (this.attempts > retry.attempts) {
      this.flags |= ResponseFlag.URX;
      cluster.stats.upstream_rq_retry_limit_exceeded += 1;
      return false;
    }
    const outstanding = cluster.stats.upstream_rq_active + cluster.stats.upstream_rq_pending_active;
    if (!this.retryActive && !cluster.breakers.allowRetry(cluster.activeRetries, outstanding)) {
      cluster.stats.upstream_rq_retry_overflow += 1;
      this.flags |= ResponseFlag.UO;
      return false;
    }
    if (!this.retryActive) {
      this.retryActive = true;
      cluster.activeRetries += 1;
    }
    cluster.stats.upstream_rq_retry += 1;
    const delay = retry.backoffMs(this.attempts, cluster.random);
    if (delay > 0) cluster.stats.upstream_rq_retry_backoff_exponential += 1;
    this.backoffTimer = setTimeout(onBackoffDone, delay, this);
    return true;
  }

  backoffDone(): void {
    this.backoffTimer = undefined;
    if (!this.done) this.sendAttempt();
  }

  // ------------------------------------------------------------------------------------------------ timeouts

  perTryTimeout(): void {
    this.perTryTimer = undefined;
    const attempt = this.attempt;
    if (attempt === undefined || this.done) return;
    this.cluster!.stats.upstream_rq_per_try_timeout += 1;
    attempt.cancel('per-try timeout');
    this.attemptFailed(attempt, 'per_try_timeout', 'per-try timeout');
  }

  routeTimeout(): void {
    this.routeTimer = undefined;
    if (this.done) return;
    const cluster = this.cluster!;
    cluster.stats.upstream_rq_timeout += 1;
    if (this.attempt !== undefined) {
      this.attempt.endpoint.stats.rq_timeout += 1;
      // Envoy counts a timed-out attempt against the endpoint (a local-origin timeout).
      cluster.report(this.attempt.endpoint, LOCAL_ORIGIN_FAILURE);
      this.attempt.cancel('route timeout');
      this.attempt = undefined;
    }
    if (this.committed) {
      this.flags |= ResponseFlag.UT;
      this.details = 'response_timeout';
      this.res.destroy();
      this.finish();
      return;
    }
    this.localReply(LOCAL_REPLY.timeout.status, LOCAL_REPLY.timeout.body, ResponseFlag.UT, 'response_timeout');
  }

  // ------------------------------------------------------------------------------------------------ endings

  /**
   * The rest of the request could not be parsed (a bad chunk after good headers): the proxy answered 400 itself
   * and closes; whatever the attempt had not yet sent upstream never will be.
   */
  downstreamProtocolError(status: number, details: string): void {
    if (this.done) return;
    this.flags |= ResponseFlag.DPE;
    this.details = details;
    this.responseCode = status;
    if (this.attempt !== undefined) {
      this.attempt.cancel('downstream protocol error');
      this.attempt = undefined;
    }
    this.finish();
  }

  /** The client went away (or the socket failed) before we were done. */
  downstreamClosed(): void {
    if (this.done) return;
    this.flags |= ResponseFlag.DC;
    this.details = 'downstream_remote_disconnect';
    if (this.attempt !== undefined) {
      this.attempt.cancel('downstream closed');
      this.attempt = undefined;
    }
    this.finish();
  }

  private localReply(status: number, body: string, flag: number, details: string): void {
    this.flags |= flag;
    this.details = details;
    this.responseCode = status;
    if (!this.res.headersSent && !this.res.destroyed) {
      writeLocalReply(this.res, status, body, this.requestId, this.drain);
    }
    this.finish();
  }

  private clearPerTry(): void {
    if (this.perTryTimer !== undefined) {
      clearTimeout(this.perTryTimer);
      this.perTryTimer = undefined;
    }
  }

  private releaseSlot(): void {
    if (!this.holdsSlot) return;
    this.holdsSlot = false;
    this.cluster!.release();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.clearPerTry();
    if (this.routeTimer !== undefined) clearTimeout(this.routeTimer);
    if (this.backoffTimer !== undefined) clearTimeout(this.backoffTimer);
    this.routeTimer = this.backoffTimer = undefined;
    const cluster = this.cluster;
    if (cluster !== undefined) {
      if (this.waiting) {
        this.waiting = false;
        cluster.cancelPending(this);
      }
      if (this.retryActive) {
        this.retryActive = false;
        cluster.activeRetries -= 1;
      }
      this.releaseSlot();
    }
    // Nobody will read the rest of the body: the codec discards it, so the connection can carry the next request.
    this.bodyChunks = undefined;
    this.resumeBody();
    if (channels.httpRequest.hasSubscribers) this.publish();
  }

  /** One event per request; optional fields are left undefined (no spread temporaries on the hot path). */
  private publish(): void {
    const dest = this.destination;
    const ep = this.lastEndpoint;
    const req = this.req;
    publishHttpRequest({
      conn: this.ctx.conn,
      reporter: this.manager.direction === 'outbound' ? 'source' : 'destination',
      workload: this.snapshot?.workload,
      requestId: this.requestId,
      method: this.method,
      authority: this.authority,
      path: this.path,
      protocol: req.protocol,
      userAgent: req.userAgent,
      forwardedFor: req.forwardedFor,
      responseCode: this.responseCode,
      responseFlags: formatResponseFlags(this.flags),
      responseCodeDetails: this.fromUpstream ? 'via_upstream' : this.details,
      routeName: this.route?.name,
      virtualHost: this.virtualHost,
      cluster: dest?.cluster,
      destinationService: dest?.service,
      destinationSubset: dest?.subset,
      upstreamHost: ep !== undefined ? ep.hostPort : undefined,
      upstreamLabels: ep?.labels,
      requestBytes: this.requestBytes,
      responseBytes: this.responseBytes,
      durationMs: Math.round(this.manager.clock.now() - this.startedAt),
      upstreamServiceTimeMs: this.upstreamServiceTime,
      attempts: this.attempts,
      startTime: this.startTime,
    });
  }
}
