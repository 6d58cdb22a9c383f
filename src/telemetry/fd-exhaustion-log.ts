/**
 * The proxy's log line for file-descriptor exhaustion, rate-limited: at the process limit every new connection
 * fails, and a line per failure would flood the log (and cost the descriptors a file log needs). The first failure
 * is reported at once; later ones are summed and reported at most once per interval, with what happened meanwhile.
 */
import type { Clock } from '../upstream/clock';
import type { FdExhaustedEvent } from './events';

export interface FdExhaustionLogOptions {
  /** Writes one line (the worker's pino logger at warn). */
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  readonly clock: Clock;
  /** At most one line per this many ms (default 10 s). */
  readonly intervalMs?: number;
}

export const FD_EXHAUSTION_MESSAGE = 'file descriptor limit reached: refusing new connections';

export class FdExhaustionLog {
  private readonly intervalMs: number;
  private lastLineAt = Number.NEGATIVE_INFINITY;
  private pending = { accept: 0, connect: 0 };
  private lastCode = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: FdExhaustionLogOptions) {
    this.intervalMs = options.intervalMs ?? 10_000;
  }

  note(e: FdExhaustedEvent): void {
    this.pending[e.where] += e.refused;
    this.lastCode = e.code;
    const wait = this.lastLineAt + this.intervalMs - this.options.clock.now();
    if (wait <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), wait).unref();
  }

  /** Writes the summary line now if anything is pending. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const { accept, connect } = this.pending;
    if (accept + connect === 0) return;
    this.pending = { accept: 0, connect: 0 };
    this.lastLineAt = this.options.clock.now();
    this.options.warn(
      { code: this.lastCode, refusedAccepting: accept, refusedConnecting: connect, intervalMs: this.intervalMs },
      `${FD_EXHAUSTION_MESSAGE} (${this.lastCode}; ${accept + connect} refused since the last report; next report in ${this.intervalMs / 1000} s at the earliest)`,
    );
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
