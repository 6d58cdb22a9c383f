/**
 * Keep-alive HTTP/1.1 at fixed concurrency: wrk holds N connections and sends requests back to back; the sidecars
 * relay the port as opaque TCP. Requests per second and latency percentiles, and the sidecars' CPU per request.
 */
import { HTTP_PORT } from '../server-apps';
import { runWrkLoad } from './wrk-load';
import { PROXY_CORES, PROXY_RSS, proxyCpuMetrics, tcpModes, type Scenario } from './scenario';

export const keepAliveScenario: Scenario = {
  name: 'keep-alive',
  title: 'Keep-alive HTTP (TCP relay)',
  method: 'wrk, N keep-alive connections, GET / (34-byte body) from nginx for the duration; the sidecars relay the port as TCP',
  peer: 'haproxy',
  metrics: [
    { key: 'rps', label: 'requests/s', unit: 'req/s', better: 'higher', headline: true, chart: 'throughput' },
    { key: 'p50_ms', label: 'latency p50', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'p90_ms', label: 'latency p90', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'p99_ms', label: 'latency p99', unit: 'ms', better: 'lower', headline: true, chart: 'latency', digits: 3 },
    { key: 'proxy_cpu_us_per_req', label: 'proxy CPU per request', unit: 'µs', better: 'lower', headline: true, proxyOnly: true, digits: 1 },
    PROXY_CORES,
    PROXY_RSS,
  ],
  appliesTo: tcpModes,
  async run(ctx) {
    const { report, usage } = await runWrkLoad(ctx, { port: HTTP_PORT, closeEachConnection: false });
    return {
      rps: report.requestsPerSecond,
      p50_ms: report.latencyMs.p50,
      p90_ms: report.latencyMs.p90,
      p99_ms: report.latencyMs.p99,
      ...proxyCpuMetrics(usage, report.seconds, report.requests, 'proxy_cpu_us_per_req'),
    };
  },
};
