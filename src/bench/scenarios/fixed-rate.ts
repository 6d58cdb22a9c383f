/**
 * Latency at a fixed request rate: h2load (HTTP/1.1) sends R requests per second in total over N keep-alive
 * connections whatever the responses do (open loop), a load every mode can sustain, so the percentiles compare
 * the time each data plane adds rather than how far it is from saturation.
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { runInPodChecked } from '../pod-process';
import { HTTP_PORT } from '../server-apps';
import { h2loadArgv, parseH2load, summariseH2loadLog } from '../tools/h2load';
import { assertSound } from './load-checks';
import { warmCell } from './wrk-load';
import { proxyCpuMetrics, tcpModes, type Scenario } from './scenario';

export const fixedRateScenario: Scenario = {
  name: 'fixed-rate',
  title: 'Latency at a fixed request rate',
  method: 'h2load --h1 --rps, R requests/s in total over N keep-alive connections (open loop); percentiles from its per-request log',
  peer: 'haproxy',
  metrics: [
    { key: 'achieved_rps', label: 'achieved rate', unit: 'req/s', better: 'higher' },
    { key: 'p50_ms', label: 'latency p50', unit: 'ms', better: 'lower', headline: true, digits: 3 },
    { key: 'p90_ms', label: 'latency p90', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'p99_ms', label: 'latency p99', unit: 'ms', better: 'lower', headline: true, chart: 'latency', digits: 3 },
    { key: 'p999_ms', label: 'latency p99.9', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'proxy_cpu_us_per_req', label: 'proxy CPU per request', unit: 'µs', better: 'lower', proxyOnly: true, digits: 1 },
  ],
  appliesTo: tcpModes,
  async run(ctx) {
    await warmCell(ctx, { port: HTTP_PORT, closeEachConnection: false });
    const logFile = path.join(ctx.cellDir, 'h2load.log');
    const seconds = Math.max(1, Math.round(ctx.settings.durationMs / 1000));
    const argv = ctx.mode.clientArgv(
      h2loadArgv({
        url: `http://${ctx.mode.pods.server.ipv4}:${HTTP_PORT}/`,
        rate: ctx.settings.rate,
        clients: ctx.settings.connections,
        durationMs: ctx.settings.durationMs,
        warmupMs: 0, // warmCell warmed the path just before; CPU per request counts measured requests only
        logFile,
      }),
    );
    const { result, usage } = await ctx.measureProxy(() =>
      runInPodChecked(ctx.mode.pods.client, argv, { timeoutMs: ctx.settings.durationMs + 30_000 }),
    );
    const report = parseH2load(result.stdout);
    assertSound('h2load', report.succeeded, report.requests - report.status2xx + report.errored + report.timeout);
    const latency = summariseH2loadLog(readFileSync(logFile, 'utf8'), seconds);
    const cpu = proxyCpuMetrics(usage, seconds, report.succeeded, 'proxy_cpu_us_per_req');
    return {
      achieved_rps: latency.requestsPerSecond,
      p50_ms: latency.p50Ms,
      p90_ms: latency.p90Ms,
      p99_ms: latency.p99Ms,
      p999_ms: latency.p999Ms,
      ...(cpu.proxy_cpu_us_per_req !== undefined ? { proxy_cpu_us_per_req: cpu.proxy_cpu_us_per_req } : {}),
    };
  },
};
