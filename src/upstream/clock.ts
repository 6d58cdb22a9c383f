/**
 * Time as the upstream layer sees it: a monotonic millisecond clock, injected so outlier ejection, backoff and
 * timeouts can be tested deterministically with a manual clock.
 */

export interface Clock {
  /** Monotonic milliseconds (never goes back; unrelated to wall-clock time). */
  now(): number;
}

export const systemClock: Clock = { now: () => performance.now() };

/** A clock that only moves when told to (tests). */
export class ManualClock implements Clock {
  constructor(private current = 0) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
  set(ms: number): void {
    this.current = ms;
  }
}
