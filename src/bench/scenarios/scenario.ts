/**
 * A benchmark scenario: one workload, run the same way through every mode it applies to, reporting named metrics.
 * Each metric says its unit and which direction is better, so the report can compute ratios and read them.
 */
import type { RunningMode } from '../modes/mode';
import type { ProcessUsage } from '../process-usage';
import type { ServerApps } from '../server-apps';
import type { BenchSettings, ModeName, ScenarioName } from '../settings';

export interface MetricSpec {
  readonly key: string;
  readonly label: string;
  /** Unit shown after values (`req/s`, `ms`, `Gbit/s`, `KiB`, …). */
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  /** Shown in the ratio tables (against direct and the peer). */
  readonly headline?: boolean;
  /** Drawn in the SVG chart, normalised to direct: a throughput (higher is better) or a latency panel bar. */
  readonly chart?: 'throughput' | 'latency';
  /** Describes the sidecars only (proxy CPU, memory): there is no `direct` value to compare with. */
  readonly proxyOnly?: boolean;
  /** The headline tables show the value itself, not ratios (counts such as conntrack entries, where direct is 0). */
  readonly absolute?: boolean;
  /** Decimal places in tables (default: 0 for values ≥ 100, else 2). */
  readonly digits?: number;
}

/** CPU and memory of the sidecars (both pods) over a measured interval. */
export interface ProxyUsage {
  readonly cpuSeconds: number;
  readonly wallSeconds: number;
  /** Resident memory of all sidecar processes at the end of the interval. */
  readonly rssBytes: number;
  readonly fds: number;
  readonly sidecars: number;
}

export interface ScenarioContext {
  readonly mode: RunningMode;
  readonly settings: BenchSettings;
  /** The server pod's applications (nginx's status socket). */
  readonly server: ServerApps;
  /** Private scratch directory of this cell (log files), inside the run's work directory. */
  readonly cellDir: string;
  /** Runs `body` and measures the sidecars' CPU during it and their memory at its end. */
  measureProxy<T>(body: () => Promise<T>): Promise<{ readonly result: T; readonly usage: ProxyUsage }>;
  /** One sample per sidecar process tree (client pod's first), now. */
  sampleSidecars(): readonly ProcessUsage[];
}

export type Metrics = Record<string, number>;

export interface Scenario {
  readonly name: ScenarioName;
  readonly title: string;
  /** How it is measured, one or two sentences (report and docs). */
  readonly method: string;
  /** The mode whose median is the "peer" reference for ratios. */
  readonly peer: ModeName;
  readonly metrics: readonly MetricSpec[];
  appliesTo(mode: ModeName): boolean;
  run(ctx: ScenarioContext): Promise<Metrics>;
}

/** The TCP scenarios run through every mode except the L7 peer (HAProxy in mode http only speaks HTTP). */
export function tcpModes(mode: ModeName): boolean {
  return mode !== 'haproxy-http';
}

/**
 * Proxy CPU metrics shared by the load scenarios: cores busy over the load generator's own measured `seconds`
 * (not the wall time around it, which includes starting the tool), and CPU time per unit of work in µs.
 */
export function proxyCpuMetrics(usage: ProxyUsage, seconds: number, work: number, perKey: string): Metrics {
  if (usage.sidecars === 0) return {};
  const out: Metrics = {
    proxy_cpu_cores: usage.cpuSeconds / (seconds > 0 ? seconds : usage.wallSeconds),
    proxy_rss_mib: usage.rssBytes / (1024 * 1024),
  };
  if (work > 0) out[perKey] = (usage.cpuSeconds * 1e6) / work;
  return out;
}

export const PROXY_CORES: MetricSpec = { key: 'proxy_cpu_cores', label: 'proxy CPU (both sidecars)', unit: 'cores', better: 'lower', proxyOnly: true, digits: 2 };
export const PROXY_RSS: MetricSpec = { key: 'proxy_rss_mib', label: 'proxy RSS (both sidecars)', unit: 'MiB', better: 'lower', proxyOnly: true, digits: 1 };
