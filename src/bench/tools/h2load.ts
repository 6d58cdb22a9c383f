/**
 * h2load (Debian's nghttp2-client) in HTTP/1.1 mode as the open-loop generator of the fixed-rate scenario: each
 * client sends at a fixed rate (`--rps`) whatever the latency, so queueing shows up in the percentiles instead of
 * lowering the offered load (the coordinated-omission trap of closed-loop tools). h2load prints no percentiles, so
 * they are computed from its per-request log (`--log-file`: start µs, status, latency µs).
 */
import { SidelaneError } from '../../errors';
import { percentile } from '../statistics';

export interface H2loadRun {
  readonly url: string;
  /** Total requests per second, spread over the clients. */
  readonly rate: number;
  readonly clients: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly logFile: string;
}

export interface H2loadReport {
  readonly requests: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status2xx: number;
}

export interface LatencySummary {
  readonly samples: number;
  /** Achieved rate over the measured window (successful responses per second). */
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

export function h2loadArgv(run: H2loadRun): string[] {
  const clients = Math.max(1, Math.min(run.clients, run.rate));
  const perClient = run.rate / clients;
  const seconds = Math.max(1, Math.round(run.durationMs / 1000));
  const argv = ['h2load', '--h1', `-c${clients}`, `--rps=${Number(perClient.toFixed(3))}`, `-D${seconds}`];
  if (run.warmupMs > 0) argv.push(`--warm-up-time=${Math.max(1, Math.round(run.warmupMs / 1000))}`);
  argv.push(`--log-file=${run.logFile}`, run.url);
  return argv;
}

export function parseH2load(out: string): H2loadReport {
  const req = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(out);
  const status = /^status codes: (\d+) 2xx/m.exec(out);
  if (!req || !status) {
    const last = out.trim().split('\n').slice(-1)[0] ?? '';
    throw new SidelaneError('SIDELANE_ERR_BENCH', `h2load: could not read its report${last ? `: ${last}` : ''}`, { output: out.slice(-400) });
  }
  return {
    requests: Number(req[1]),
    succeeded: Number(req[4]),
    failed: Number(req[5]),
    errored: Number(req[6]),
    timeout: Number(req[7]),
    status2xx: Number(status[1]),
  };
}

/** Latency percentiles of the successful (2xx) requests in an h2load log, over a window of `seconds`. */
export function summariseH2loadLog(log: string, seconds: number): LatencySummary {
  const latenciesUs: number[] = [];
  for (const line of log.split('\n')) {
    if (line === '') continue;
    const [, status, latency] = line.split('\t');
    const code = Number(status);
    const us = Number(latency);
    if (!Number.isFinite(code) || !Number.isFinite(us)) {
      throw new SidelaneError('SIDELANE_ERR_BENCH', `h2load log: expected 'start<TAB>status<TAB>latency', got '${line.slice(0, 80)}'`);
    }
    if (code >= 200 && code < 300) latenciesUs.push(us);
  }
  if (latenciesUs.length === 0) throw new SidelaneError('SIDELANE_ERR_BENCH', 'h2load log: no successful request was logged');
  const ms = (us: number): number => us / 1000;
  return {
    samples: latenciesUs.length,
    requestsPerSecond: latenciesUs.length / seconds,
    p50Ms: ms(percentile(latenciesUs, 50)),
    p90Ms: ms(percentile(latenciesUs, 90)),
    p99Ms: ms(percentile(latenciesUs, 99)),
    p999Ms: ms(percentile(latenciesUs, 99.9)),
    maxMs: ms(percentile(latenciesUs, 100)),
  };
}
