/**
 * One try of a request against one endpoint (Envoy's UpstreamRequest): the response handler that forwards upstream
 * events to its exchange, unless the exchange has moved on (retry, timeout, client gone) — then the attempt is
 * discarded and its remaining events are ignored. It keeps the endpoint's active-request count exact.
 */
import type { Endpoint } from '../upstream/endpoint';
import type { ResponseHandler } from '../upstream/http1-connection';
import type { HttpDispatcher } from '../upstream/http1-pool';
import type { UpstreamRequest } from '../upstream/http1-request';

/** What an attempt reports to (the exchange). */
export interface AttemptOwner {
  onUpstreamHeaders(attempt: UpstreamAttempt, status: number, headers: string[], resume: () => void): boolean;
  onUpstreamData(chunk: Buffer): boolean;
  onUpstreamComplete(attempt: UpstreamAttempt): void;
  onUpstreamError(attempt: UpstreamAttempt, err: Error): void;
}

/** The reason given to the pool when the proxy abandons an attempt. */
export class AttemptCancelled extends Error {
  constructor(reason: string) {
    super(`attempt cancelled: ${reason}`);
    this.name = 'AttemptCancelled';
  }
}

export class UpstreamAttempt implements ResponseHandler {
  /** The exchange no longer cares about this attempt. */
  discarded = false;
  private settled = false;
  /** The pool it waits in for a connection (until onConnect). */
  private pool: HttpDispatcher | undefined;
  private abortFn: ((err?: Error) => void) | undefined;
  private cancelReason: Error | undefined;

  constructor(
    private readonly owner: AttemptOwner,
    readonly endpoint: Endpoint,
    /** Monotonic ms when the attempt was dispatched. */
    readonly startedAt: number,
  ) {
    endpoint.stats.rq_total += 1;
    endpoint.stats.rq_active += 1;
  }

  /** Sends the request through the endpoint's pool. */
  send(pool: HttpDispatcher, request: UpstreamRequest): void {
    this.pool = pool;
    pool.dispatch(request, this);
  }

  /**
   * Abandons the attempt: takes it out of the pool's queue if it still waits for a connection (so no connection is
   * opened for it), else aborts it upstream.
   */
  cancel(reason: string): void {
    this.discarded = true;
    this.cancelReason = new AttemptCancelled(reason);
    if (this.abortFn) this.abortFn(this.cancelReason);
    else if (this.pool?.withdraw(this)) this.settle();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.pool = undefined;
    this.abortFn = abort;
    if (this.cancelReason) abort(this.cancelReason);
  }

  onHeaders(statusCode: number, headers: string[], resume: () => void): boolean {
    if (this.discarded) return true;
    return this.owner.onUpstreamHeaders(this, statusCode, headers, resume);
  }

  onData(chunk: Buffer): boolean {
    if (this.discarded) return true; // draining a response nobody will see (retried 5xx)
    return this.owner.onUpstreamData(chunk);
  }

  onComplete(): void {
    this.settle();
    if (!this.discarded) this.owner.onUpstreamComplete(this);
  }

  onError(err: Error): void {
    this.settle();
    if (!this.discarded) this.owner.onUpstreamError(this, err);
  }

  private settle(): void {
    this.pool = undefined;
    if (this.settled) return;
    this.settled = true;
    this.endpoint.stats.rq_active -= 1;
  }
}
