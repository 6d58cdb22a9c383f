/**
 * Connection churn: wrk sends `Connection: close`, so every request opens a new TCP connection through both
 * sidecars (accept, original destination, upstream connect, teardown). New connections per second.
 */
import { HTTP_PORT } from '../server-apps';
import { runWrkLoad } from './wrk-load';
import { PROXY_CORES, proxyCpuMetrics, tcpModes, type Scenario } from './scenario';

export const churnScenario: Scenario = {
  name: 'churn',
  title: 'Connection churn (a new connection per request)',
  method: 'wrk with `Connection: close`, N concurrent clients: every request is a new TCP connection through both sidecars',
  peer: 'haproxy',
  metrics: [
    { key: 'cps', label: 'new connections/s', unit: 'conn/s', better: 'higher', headline: true, chart: 'throughput' },
    { key: 'p99_ms', label: 'latency p99 (connect + request)', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'proxy_cpu_us_per_conn', label: 'proxy CPU per connection', unit: 'µs', better: 'lower', headline: true, proxyOnly: true, digits: 1 },
    PROXY_CORES,
  ],
  appliesTo: tcpModes,
  async run(ctx) {
    const { report, usage } = await runWrkLoad(ctx, { port: HTTP_PORT, closeEachConnection: true });
    const m = proxyCpuMetrics(usage, report.seconds, report.requests, 'proxy_cpu_us_per_conn');
    delete m.proxy_rss_mib;
    return { cps: report.requestsPerSecond, p99_ms: report.latencyMs.p99, ...m };
  },
};
