/**
 * HTTP-routed keep-alive requests: the same wrk load to the L7 port, which sidelane's configuration declares
 * `protocol: HTTP` (each request parsed, routed and sent on a pooled upstream connection) and which HAProxy
 * handles in `mode http`; `direct` is the limit. Compared with the `haproxy-http` peer.
 */
import { L7_PORT } from '../server-apps';
import type { ModeName } from '../settings';
import { runWrkLoad } from './wrk-load';
import { PROXY_CORES, PROXY_RSS, proxyCpuMetrics, type Scenario } from './scenario';

/** The limit, sidelane's default mode and HAProxy in mode http; the other capture modes would only repeat the TCP comparison. */
const L7_MODES: readonly ModeName[] = ['direct', 'tproxy+hook', 'haproxy-http'];

export const l7Scenario: Scenario = {
  name: 'l7',
  title: 'HTTP-routed keep-alive (L7)',
  method: 'wrk, N keep-alive connections to the port declared `protocol: HTTP` (sidelane routes each request; HAProxy in mode http)',
  peer: 'haproxy-http',
  metrics: [
    { key: 'rps', label: 'requests/s', unit: 'req/s', better: 'higher', headline: true, chart: 'throughput' },
    { key: 'p50_ms', label: 'latency p50', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'p99_ms', label: 'latency p99', unit: 'ms', better: 'lower', headline: true, digits: 3 },
    { key: 'proxy_cpu_us_per_req', label: 'proxy CPU per request', unit: 'µs', better: 'lower', headline: true, proxyOnly: true, digits: 1 },
    PROXY_CORES,
    PROXY_RSS,
  ],
  appliesTo: (mode) => L7_MODES.includes(mode),
  async run(ctx) {
    const { report, usage } = await runWrkLoad(ctx, { port: L7_PORT, closeEachConnection: false });
    return {
      rps: report.requestsPerSecond,
      p50_ms: report.latencyMs.p50,
      p99_ms: report.latencyMs.p99,
      ...proxyCpuMetrics(usage, report.seconds, report.requests, 'proxy_cpu_us_per_req'),
    };
  },
};
