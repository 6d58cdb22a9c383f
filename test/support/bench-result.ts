/**
 * A deterministic benchmark result for report and summary tests: every mode and scenario, three repetitions, values
 * derived from fixed per-mode factors (so ratios are known), one failed cell, and a fixed machine description.
 */
import { RESULT_SCHEMA, summarise, type BenchResult, type CellRecord } from '../../src/bench/result';
import { runSettings, scenarioInfos } from '../../src/bench/run';
import { MODES } from '../../src/bench/modes';
import { planCells } from '../../src/bench/schedule';
import { SCENARIOS } from '../../src/bench/scenarios';
import { settingsFromFlags, type ModeName } from '../../src/bench/settings';

/** Throughput of each mode relative to direct; latencies and costs scale with the inverse. */
export const FACTORS: Readonly<Record<ModeName, number>> = {
  direct: 1,
  redirect: 0.3,
  'tproxy+hook': 0.4,
  tproxy: 0.35,
  haproxy: 0.5,
  'haproxy-http': 0.45,
};

const BASE: Record<string, number> = {
  rps: 40000,
  cps: 6000,
  gbps: 12,
  achieved_rps: 2000,
  p50_ms: 0.3,
  p90_ms: 0.5,
  p99_ms: 1.2,
  p999_ms: 2.5,
  proxy_cpu_us_per_req: 40,
  proxy_cpu_us_per_conn: 300,
  proxy_cpu_cores: 0.8,
  proxy_rss_mib: 120,
  proxy_cpu_s_per_gb: 0.6,
  kib_per_conn: 8,
  client_kib_per_conn: 9,
  server_kib_per_conn: 7,
  fds_per_conn: 2,
  failed_conns: 0,
  per1000: 0,
  client_per1000: 0,
  server_per1000: 0,
  client_table: 0,
  server_table: 0,
};

function metricValue(key: string, mode: ModeName, repetition: number): number | undefined {
  const f = FACTORS[mode];
  const jitter = 1 + (repetition - 1) * 0.02; // repetitions 0,1,2 → 0.98, 1, 1.02: the median is the middle one
  const base = BASE[key]!;
  if (['rps', 'cps', 'gbps'].includes(key)) return base * f * jitter;
  if (key === 'achieved_rps') return base;
  if (key.endsWith('_ms')) return (base / f) * jitter;
  if (key === 'failed_conns') return mode === 'direct' ? undefined : 0;
  if (key.includes('per1000') || key.endsWith('_table')) return mode === 'redirect' ? 2000 * jitter : 0;
  if (mode === 'direct') return undefined; // proxy metrics
  return (base / f) * jitter;
}

export function syntheticResult(): BenchResult {
  const settings = settingsFromFlags({});
  const plan = planCells(settings.scenarios, settings.modes, settings.repeat, (s, m) => SCENARIOS[s].appliesTo(m));
  const cells: CellRecord[] = plan.map((cell, index) => {
    const base = { index, repetition: cell.repetition, scenario: cell.scenario, mode: cell.mode, startedAt: `2026-11-29T05:${String(index % 60).padStart(2, '0')}:00.000Z`, seconds: 5.1 };
    if (cell.scenario === 'churn' && cell.mode === 'tproxy' && cell.repetition === 2) {
      return { ...base, metrics: {}, error: 'wrk: 900 errors for 1000 requests (more than 1%)' };
    }
    const metrics: Record<string, number> = {};
    for (const spec of SCENARIOS[cell.scenario].metrics) {
      const v = metricValue(spec.key, cell.mode, cell.repetition);
      if (v !== undefined) metrics[spec.key] = v;
    }
    return { ...base, metrics };
  });
  const scenarios = scenarioInfos(settings);
  return {
    schema: RESULT_SCHEMA,
    startedAt: '2026-11-29T05:00:00.000Z',
    finishedAt: '2026-11-29T05:12:00.000Z',
    machine: {
      cpuModel: 'Example CPU',
      cores: 2,
      kernel: '6.1.0-test',
      os: 'Debian GNU/Linux 12 (bookworm)',
      memoryGiB: 23.5,
      node: 'v20.0.0',
      tools: { wrk: 'debian/4.1.0-3+b2', h2load: '1.52.0', iperf3: '3.12', haproxy: '2.6.12', nginx: '1.22.1' },
      loadAverageStart: [0.5, 0.4, 0.3],
      loadAverageEnd: [1.9, 1.2, 0.8],
    },
    settings: runSettings(settings),
    modes: settings.modes.map((name) => ({ name, description: MODES[name].description })),
    scenarios,
    cells,
    summary: summarise(scenarios, cells),
  };
}
