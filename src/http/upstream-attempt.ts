/**
 * One try of a request against one endpoint (Envoy's UpstreamRequest): the undici dispatch handler that forwards
 * upstream events to its exchange, unless the exchange has moved on (retry, timeout, client gone) — then the attempt
 * is discarded and its remaining events are ignored. It keeps the endpoint's active-request count exact.
 */
import type { Dispatcher } from 'undici';
import type { Endpoint } from '../upstream/endpoint';

/** What an attempt reports to (the exchange). */
export interface AttemptOwner {
  onUpstreamHeaders(attempt: UpstreamAttempt, status: number, headers: Buffer[], resume: () => void): boolean;
  onUpstreamData(chunk: Buffer): boolean;
  onUpstreamComplete(attempt: UpstreamAttempt): void;
  onUpstreamError(attempt: UpstreamAttempt, err: Error): void;
}

/** The reason given to undici when the proxy abandons an attempt. */
export class AttemptCancelled extends Error {
  constructor(reason: string) {
    super(`attempt cancelled: ${reason}`);
    this.name = 'AttemptCancelled';
  }
}

export class UpstreamAttempt implements Dispatcher.DispatchHandler {
  /** The exchange no longer cares about this attempt. */
  discarded = false;
  private settled = false;
  /** Counted in endpoint.awaitingConnection until it gets a connection, settles or is cancelled. */
  private awaiting = true;
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
    endpoint.awaitingConnection += 1;
  }

  private connectionSettled(): void {
    if (!this.awaiting) return;
    this.awaiting = false;
    this.endpoint.awaitingConnection -= 1;
  }

  /** Abandons the attempt: aborts it upstream now, or as soon as undici assigns it a connection. */
  cancel(reason: string): void {
    this.discarded = true;
    this.connectionSettled();
    this.cancelReason = new AttemptCancelled(reason);
    if (this.abortFn) this.abortFn(this.cancelReason);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.connectionSettled();
    this.abortFn = abort;
    if (this.cancelReason) abort(this.cancelReason);
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void): boolean {
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
    this.connectionSettled();
    if (this.settled) return;
    this.settled = true;
    this.endpoint.stats.rq_active -= 1;
  }
}
