/**
 * wrk (Debian's `wrk`): the closed-loop HTTP/1.1 load generator for the keep-alive, churn and L7 scenarios. Builds
 * its command line and parses its text report (requests/s, latency distribution, socket errors, non-2xx).
 */
import { SidelaneError } from '../../errors';

export interface WrkRun {
  readonly url: string;
  readonly connections: number;
  readonly durationMs: number;
  readonly threads?: number;
  /** Send `Connection: close`: every request on a new connection (the churn scenario). */
  readonly closeEachConnection?: boolean;
  /** Per-request timeout (wrk counts a slower request as a timeout error). */
  readonly timeoutMs?: number;
}

export interface WrkReport {
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  /** Latency percentiles in milliseconds (wrk --latency prints 50/75/90/99). */
  readonly latencyMs: { readonly p50: number; readonly p75: number; readonly p90: number; readonly p99: number };
  readonly errors: { readonly connect: number; readonly read: number; readonly write: number; readonly timeout: number; readonly non2xx: number };
}

export function wrkArgv(run: WrkRun): string[] {
  const seconds = Math.max(1, Math.round(run.durationMs / 1000));
  const threads = Math.max(1, Math.min(run.threads ?? 1, run.connections));
  const argv = ['wrk', `-t${threads}`, `-c${run.connections}`, `-d${seconds}s`, '--latency'];
  argv.push(`--timeout`, `${Math.max(1, Math.round((run.timeoutMs ?? 5000) / 1000))}s`);
  if (run.closeEachConnection) argv.push('-H', 'Connection: close');
  argv.push(run.url);
  return argv;
}

/** Milliseconds per unit; microseconds divide (0.001 is not exact in binary and would leave 0.14200000000000002). */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `425.00us`, `1.09ms`, `2.00s`, `1.00m` → milliseconds. */
export function parseWrkDuration(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new SidelaneError('SIDELANE_ERR_BENCH', `wrk: expected a duration like 425.00us or 1.09ms, got '${text}'`);
  return m[2] === 'us' ? Number(m[1]) / 1000 : Number(m[1]) * UNIT_MS[m[2]!]!;
}

function percentileLine(out: string, p: number): number {
  const m = new RegExp(`^\\s+${p}%\\s+(\\S+)\\s*$`, 'm').exec(out);
  if (!m) throw new SidelaneError('SIDELANE_ERR_BENCH', `wrk: no ${p}% latency line in its report (was --latency given?)`, { output: out.slice(0, 400) });
  return parseWrkDuration(m[1]!);
}

export function parseWrk(out: string): WrkReport {
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),/m.exec(out);
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  if (!total || !rps) {
    const firstLine = out.trim().split('\n')[0] ?? '';
    throw new SidelaneError('SIDELANE_ERR_BENCH', `wrk: could not read its report${firstLine ? `: ${firstLine}` : ''}`, { output: out.slice(0, 400) });
  }
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return {
    requests: Number(total[1]),
    seconds: parseWrkDuration(`${total[2]}${total[3]}`) / 1000,
    requestsPerSecond: Number(rps[1]),
    latencyMs: { p50: percentileLine(out, 50), p75: percentileLine(out, 75), p90: percentileLine(out, 90), p99: percentileLine(out, 99) },
    errors: {
      connect: Number(sock?.[1] ?? 0),
      read: Number(sock?.[2] ?? 0),
      write: Number(sock?.[3] ?? 0),
      timeout: Number(sock?.[4] ?? 0),
      non2xx: Number(non2xx?.[1] ?? 0),
    },
  };
}

/** Failed requests: socket errors of every kind and non-2xx/3xx responses. */
export function wrkFailures(r: WrkReport): number {
  return r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout + r.errors.non2xx;
}
