/**
 * Bulk throughput with iperf3 (1 or 8 parallel streams) from the client pod to the server pod's iperf3 server,
 * through both sidecars: the cost of moving bytes (copies, syscalls, buffer sizes), not of connections.
 */
import { runInPodChecked } from '../pod-process';
import { IPERF_PORT } from '../server-apps';
import { iperf3Argv, parseIperf3 } from '../tools/iperf3';
import { PROXY_CORES, proxyCpuMetrics, tcpModes, type Scenario } from './scenario';

export function bulkScenario(streams: 1 | 8): Scenario {
  return {
    name: streams === 1 ? 'bulk-1' : 'bulk-8',
    title: `Bulk throughput, ${streams} stream${streams === 1 ? '' : 's'}`,
    method: `iperf3 -P ${streams} for the duration (after its control connection), bits/s received by the server`,
    peer: 'haproxy',
    metrics: [
      { key: 'gbps', label: 'throughput', unit: 'Gbit/s', better: 'higher', headline: true, chart: 'throughput', digits: 2 },
      { key: 'proxy_cpu_s_per_gb', label: 'proxy CPU per GB', unit: 's', better: 'lower', proxyOnly: true, digits: 3 },
      PROXY_CORES,
    ],
    appliesTo: tcpModes,
    async run(ctx) {
      const argv = ctx.mode.clientArgv(
        iperf3Argv({ server: ctx.mode.pods.server.ipv4, port: IPERF_PORT, streams, durationMs: ctx.settings.durationMs }),
      );
      const { result, usage } = await ctx.measureProxy(() =>
        runInPodChecked(ctx.mode.pods.client, argv, { timeoutMs: ctx.settings.durationMs + 30_000 }),
      );
      const report = parseIperf3(result.stdout);
      const gigabytes = (report.receivedBitsPerSecond * report.seconds) / 8e9;
      const cpu = proxyCpuMetrics(usage, report.seconds, gigabytes, 'per_gb');
      return {
        gbps: report.receivedBitsPerSecond / 1e9,
        ...(cpu.per_gb !== undefined ? { proxy_cpu_s_per_gb: cpu.per_gb / 1e6 } : {}),
        ...(cpu.proxy_cpu_cores !== undefined ? { proxy_cpu_cores: cpu.proxy_cpu_cores } : {}),
      };
    },
  };
}
