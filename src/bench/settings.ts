/**
 * What one `sidelane bench` run does: the modes and scenarios, how long and how often each cell runs, the load
 * and the proxy's worker count, and where the reports go. Flags are validated here (UsageError naming the flag),
 * so a bad command line exits 2 before any namespace is created.
 */
import { UsageError } from '../errors';
import { parseCount, parseDuration } from '../cli/options';
import { shown } from '../capture/validation';

/** The data planes compared (DESIGN 7). `haproxy-http` is the L7 peer: it only runs the `l7` scenario. */
export const MODE_NAMES = ['direct', 'redirect', 'tproxy+hook', 'tproxy', 'haproxy', 'haproxy-http'] as const;
export type ModeName = (typeof MODE_NAMES)[number];

/** The peer proxies: ratio references, never compared with themselves. */
export const PEER_MODES: readonly ModeName[] = ['haproxy', 'haproxy-http'];

export const SCENARIO_NAMES = [
  'keep-alive',
  'fixed-rate',
  'churn',
  'bulk-1',
  'bulk-8',
  'idle-connections',
  'conntrack',
  'l7',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface BenchOutputs {
  readonly json?: string;
  readonly svg?: string;
  readonly markdown?: string;
}

export interface BenchSettings {
  readonly modes: readonly ModeName[];
  readonly scenarios: readonly ScenarioName[];
  /** Repetitions; in each one every mode runs every scenario, in a rotated order. */
  readonly repeat: number;
  /** Measured time of a timed cell (keep-alive, fixed-rate, churn, bulk, l7). */
  readonly durationMs: number;
  /** Load sent through each mode once after set-up, before the first measured cell (JIT, pools, ARP). */
  readonly warmupMs: number;
  /** Concurrent connections of the load generators (wrk -c, h2load -c). */
  readonly connections: number;
  /** sidelane `run --concurrency N` workers, and HAProxy's nbthread (the same number of cores for both). */
  readonly concurrency: number;
  /** Total request rate of the fixed-rate scenario (requests per second). */
  readonly rate: number;
  /** Idle connections held open through both sidecars by the idle-connections scenario. */
  readonly idleConnections: number;
  /** New connections opened by the conntrack scenario. */
  readonly burstConnections: number;
  readonly quick: boolean;
  /** Keep the lab (namespaces, processes, rules) after the run until Ctrl-C, for debugging. */
  readonly keep: boolean;
  readonly outputs: BenchOutputs;
}

/** Raw commander values (strings, or undefined when the flag was not given). */
export interface BenchFlags {
  readonly modes?: string;
  readonly scenarios?: string;
  readonly repeat?: string;
  readonly duration?: string;
  readonly warmup?: string;
  readonly connections?: string;
  readonly concurrency?: string;
  readonly rate?: string;
  readonly idleConnections?: string;
  readonly burstConnections?: string;
  readonly json?: string;
  readonly svg?: string;
  readonly markdown?: string;
  readonly quick?: boolean;
  readonly keep?: boolean;
}

interface Defaults {
  readonly repeat: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly connections: number;
  readonly rate: number;
  readonly idleConnections: number;
  readonly burstConnections: number;
}

/** The full run: about 10-15 minutes for every mode and scenario on a 2-core machine. */
export const FULL_DEFAULTS: Defaults = {
  repeat: 3,
  durationMs: 5000,
  warmupMs: 2000,
  connections: 32,
  rate: 2000,
  idleConnections: 5000,
  burstConnections: 1000,
};

/** `--quick`: a few seconds per cell, one repetition; for smoke tests and a first look. */
export const QUICK_DEFAULTS: Defaults = {
  repeat: 1,
  durationMs: 2000,
  warmupMs: 500,
  connections: 16,
  rate: 1000,
  idleConnections: 500,
  burstConnections: 1000,
};

/** sidelane run's own default worker count (and Istio's default proxy concurrency). */
export const DEFAULT_CONCURRENCY = 2;

/**
 * Per-process open-file limit of the machine is 20000; the busiest process (a sidecar) holds two sockets per
 * idle connection, so N is capped below half of it with room for the process's other descriptors.
 */
export const MAX_IDLE_CONNECTIONS = 9000;

function parseList<T extends string>(flag: string, value: string, names: readonly T[]): T[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw new UsageError(`${flag}: expected a comma-separated list of ${names.join(', ')}, got ${shown(value)}`);
  const out: T[] = [];
  for (const item of items) {
    if (!(names as readonly string[]).includes(item)) {
      throw new UsageError(`${flag}: unknown ${shown(item)}; expected a comma-separated list of ${names.join(', ')}`);
    }
    if (!out.includes(item as T)) out.push(item as T);
  }
  // Keep the canonical order, so reports read the same whatever order the flag listed them in.
  return names.filter((n) => out.includes(n));
}

function outputPath(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '' || value.includes('\0')) throw new UsageError(`${flag}: expected a file path, got ${shown(value)}`);
  return value;
}

export function settingsFromFlags(flags: BenchFlags): BenchSettings {
  const quick = flags.quick ?? false;
  const d = quick ? QUICK_DEFAULTS : FULL_DEFAULTS;
  const durationMs = flags.duration !== undefined ? parseDuration('--duration', flags.duration) : d.durationMs;
  if (durationMs < 500 || durationMs > 600_000) throw new UsageError(`--duration: expected 500ms to 10m, got ${shown(flags.duration ?? '')}`);
  const warmupMs = flags.warmup !== undefined ? parseDuration('--warmup', flags.warmup) : d.warmupMs;
  if (warmupMs > 600_000) throw new UsageError(`--warmup: expected at most 10m, got ${shown(flags.warmup ?? '')}`);
  return {
    modes: flags.modes !== undefined ? parseList('--modes', flags.modes, MODE_NAMES) : [...MODE_NAMES],
    scenarios: flags.scenarios !== undefined ? parseList('--scenarios', flags.scenarios, SCENARIO_NAMES) : [...SCENARIO_NAMES],
    repeat: flags.repeat !== undefined ? parseCount('--repeat', flags.repeat, 1, 100) : d.repeat,
    durationMs,
    warmupMs,
    connections: flags.connections !== undefined ? parseCount('--connections', flags.connections, 1, 4096) : d.connections,
    concurrency: flags.concurrency !== undefined ? parseCount('--concurrency', flags.concurrency, 1, 64) : DEFAULT_CONCURRENCY,
    rate: flags.rate !== undefined ? parseCount('--rate', flags.rate, 1, 1_000_000) : d.rate,
    idleConnections:
      flags.idleConnections !== undefined ? parseCount('--idle-connections', flags.idleConnections, 1, MAX_IDLE_CONNECTIONS) : d.idleConnections,
    burstConnections:
      flags.burstConnections !== undefined ? parseCount('--burst-connections', flags.burstConnections, 10, 20_000) : d.burstConnections,
    quick,
    keep: flags.keep ?? false,
    outputs: {
      json: outputPath('--json', flags.json),
      svg: outputPath('--svg', flags.svg),
      markdown: outputPath('--markdown', flags.markdown),
    },
  };
}
