/**
 * HTTP retry policy (Envoy's retry_on conditions, Istio's HTTPRetry): which outcomes are retried — 5xx,
 * gateway-error (502/503/504), reset, connect-failure, retriable-4xx (409), retriable status codes — how many times,
 * with a per-try timeout and Envoy's fully jittered exponential backoff (25 ms base, 250 ms cap by default).
 */
import type { RandomSource } from '../upstream/random-source';

export interface RetryPolicySpec {
  /** Retries after the first attempt (0 = no retries). */
  readonly attempts: number;
  /** 0 = the route timeout bounds each try. */
  readonly perTryTimeoutMs: number;
  readonly retryOn: readonly string[];
  readonly retriableStatusCodes: readonly number[];
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

const C_5XX = 1;
const C_GATEWAY = 2;
const C_RESET = 4;
const C_CONNECT = 8;
const C_STATUS_CODES = 16;
const C_4XX = 32;
const C_RESET_BEFORE_REQUEST = 64;

const CONDITION_BITS: Readonly<Record<string, number>> = {
  '5xx': C_5XX,
  'gateway-error': C_GATEWAY,
  reset: C_RESET,
  'connect-failure': C_CONNECT,
  'retriable-status-codes': C_STATUS_CODES,
  'retriable-4xx': C_4XX,
  'reset-before-request': C_RESET_BEFORE_REQUEST,
};

/** A failed attempt that produced no response. */
export type AttemptFailure = 'connect_failure' | 'reset' | 'per_try_timeout';

/** Istio's default: 2 retries on connect-failure, refused-stream, unavailable, cancelled, retriable-status-codes. */
export const DEFAULT_RETRY: RetryPolicySpec = {
  attempts: 2,
  perTryTimeoutMs: 0,
  retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
  retriableStatusCodes: [],
  backoffBaseMs: 25,
  backoffMaxMs: 250,
};

export const NO_RETRY: RetryPolicySpec = { ...DEFAULT_RETRY, attempts: 0, retryOn: [] };

export class RetryPolicy {
  readonly attempts: number;
  readonly perTryTimeoutMs: number;
  private readonly conditions: number;
  private readonly codes: ReadonlySet<number>;

  constructor(readonly spec: RetryPolicySpec) {
    this.attempts = spec.attempts;
    this.perTryTimeoutMs = spec.perTryTimeoutMs;
    let bits = 0;
    const codes = new Set(spec.retriableStatusCodes);
    for (const c of spec.retryOn) {
      // Istio lets status codes appear in retryOn: they become retriable status codes.
      if (/^\d{3}$/.test(c)) {
        codes.add(Number(c));
        bits |= C_STATUS_CODES;
      } else {
        bits |= CONDITION_BITS[c] ?? 0;
      }
    }
    this.conditions = bits;
    this.codes = codes;
  }

  /** Would a response with this status be retried (attempts permitting)? */
  retriableStatus(status: number): boolean {
    const c = this.conditions;
    if (c & C_5XX && status >= 500) return true;
    if (c & C_GATEWAY && (status === 502 || status === 503 || status === 504)) return true;
    if (c & C_4XX && status === 409) return true;
    if (c & C_STATUS_CODES && this.codes.has(status)) return true;
    return false;
  }

  /**
   * Would an attempt that got no response be retried? Connect failures count as a 503 for 5xx and gateway-error
   * (Envoy's semantics); resets and per-try timeouts under 5xx, gateway-error and reset.
   */
  retriableFailure(failure: AttemptFailure): boolean {
    const c = this.conditions;
    if (c & (C_5XX | C_GATEWAY | C_RESET)) return true;
    if (failure === 'connect_failure') return (c & (C_CONNECT | C_RESET_BEFORE_REQUEST)) !== 0;
    return false;
  }

  /** Envoy's JitteredExponentialBackOffStrategy: uniform in [0, min((2^n - 1) × base, max)). */
  backoffMs(retryNumber: number, random: RandomSource): number {
    const base = this.spec.backoffBaseMs;
    if (base <= 0) return 0;
    const ceiling = Math.min(((1 << Math.min(retryNumber, 20)) - 1) * base, this.spec.backoffMaxMs);
    return Math.floor(random.next() * ceiling);
  }
}
