/**
 * Circuit breakers (Envoy's per-cluster thresholds): how many connections may carry requests at once, how many
 * requests may wait for one, how many may be outstanding in total, and how many retries may run concurrently (a
 * fixed number, or a budget: a percentage of the outstanding requests with a floor). Decisions only; the counters
 * live on the cluster.
 */

export interface CircuitBreakerLimits {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
  /** When set, replaces maxRetries (Envoy's retry_budget). */
  readonly retryBudget?: { readonly budgetPercent: number; readonly minRetryConcurrency: number };
}

/** Istio's defaults: effectively unlimited (2^32 - 1), so nothing trips unless configured. */
export const UNLIMITED = 4294967295;
export const DEFAULT_LIMITS: CircuitBreakerLimits = {
  maxConnections: UNLIMITED,
  maxPendingRequests: UNLIMITED,
  maxRequests: UNLIMITED,
  maxRetries: UNLIMITED,
};

export type Admission = 'admitted' | 'pending' | 'overflow_requests' | 'overflow_pending';

export class CircuitBreakers {
  constructor(readonly limits: CircuitBreakerLimits) {}

  /**
   * A new request's fate. HTTP/1.1 carries one request per connection, so requests in flight are connections in
   * use: beyond maxConnections a request waits (pending), beyond maxPendingRequests it overflows.
   */
  admit(activeRequests: number, pendingRequests: number): Admission {
    const l = this.limits;
    if (activeRequests + pendingRequests >= l.maxRequests) return 'overflow_requests';
    if (activeRequests < l.maxConnections) return 'admitted';
    if (pendingRequests >= l.maxPendingRequests) return 'overflow_pending';
    return 'pending';
  }

  /** May one more retry start now? */
  allowRetry(activeRetries: number, outstandingRequests: number): boolean {
    const budget = this.limits.retryBudget;
    if (budget) {
      const allowed = Math.max(budget.minRetryConcurrency, Math.floor((budget.budgetPercent / 100) * outstandingRequests));
      return activeRetries < allowed;
    }
    return activeRetries < this.limits.maxRetries;
  }

  /** May one more TCP connection be proxied? */
  allowConnection(activeConnections: number): boolean {
    return activeConnections < this.limits.maxConnections;
  }
}
