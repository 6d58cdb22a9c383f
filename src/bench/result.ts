/**
 * The result of a run as data (what `--json` writes, and what the Markdown and SVG reports are rendered from):
 * every cell's raw metrics, and per scenario and metric the median and spread of each mode with its ratios to
 * `direct` and to the peer proxy. Summaries are computed here, purely, from the cells.
 */
import type { MachineDescription } from './machine';
import type { MetricSpec } from './scenarios/scenario';
import type { ModeName, ScenarioName } from './settings';
import { ratio, spread, type Spread } from './statistics';

export const RESULT_SCHEMA = 'sidelane-bench/1';

export interface CellRecord {
  /** Position in the run (0-based); cells ran in this order. */
  readonly index: number;
  readonly repetition: number;
  readonly scenario: ScenarioName;
  readonly mode: ModeName;
  readonly startedAt: string;
  readonly seconds: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly error?: string;
}

export interface ModeInfo {
  readonly name: ModeName;
  readonly description: string;
}

export interface ScenarioInfo {
  readonly name: ScenarioName;
  readonly title: string;
  readonly method: string;
  readonly peer: ModeName;
  readonly metrics: readonly MetricSpec[];
  /** The modes of this run the scenario applies to, in report order. */
  readonly modes: readonly ModeName[];
}

export interface RunSettings {
  readonly modes: readonly ModeName[];
  readonly scenarios: readonly ScenarioName[];
  readonly repeat: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly connections: number;
  readonly concurrency: number;
  readonly rate: number;
  readonly idleConnections: number;
  readonly burstConnections: number;
  readonly quick: boolean;
}

export interface MetricSummary {
  readonly spec: MetricSpec;
  readonly byMode: Partial<Record<ModeName, Spread>>;
  /** median(mode) / median(direct). */
  readonly toDirect: Partial<Record<ModeName, number>>;
  /** median(mode) / median(peer). */
  readonly toPeer: Partial<Record<ModeName, number>>;
}

export interface ScenarioSummary {
  readonly scenario: ScenarioName;
  readonly peer: ModeName;
  readonly modes: readonly ModeName[];
  /** Failed cells per mode (their errors are in `cells`). */
  readonly failures: Partial<Record<ModeName, number>>;
  readonly metrics: readonly MetricSummary[];
}

export interface BenchResult {
  readonly schema: typeof RESULT_SCHEMA;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: MachineDescription;
  readonly settings: RunSettings;
  readonly modes: readonly ModeInfo[];
  readonly scenarios: readonly ScenarioInfo[];
  readonly cells: readonly CellRecord[];
  readonly summary: readonly ScenarioSummary[];
}

export function summarise(scenarios: readonly ScenarioInfo[], cells: readonly CellRecord[]): ScenarioSummary[] {
  return scenarios.map((info) => {
    const mine = cells.filter((c) => c.scenario === info.name);
    const failures: Partial<Record<ModeName, number>> = {};
    for (const c of mine) if (c.error !== undefined) failures[c.mode] = (failures[c.mode] ?? 0) + 1;
    const metrics = info.metrics.map((spec): MetricSummary => {
      const byMode: Partial<Record<ModeName, Spread>> = {};
      for (const mode of info.modes) {
        const values = mine.filter((c) => c.mode === mode && c.error === undefined).map((c) => c.metrics[spec.key]);
        const s = spread(values.filter((v): v is number => typeof v === 'number'));
        if (s) byMode[mode] = s;
      }
      const toDirect: Partial<Record<ModeName, number>> = {};
      const toPeer: Partial<Record<ModeName, number>> = {};
      for (const mode of info.modes) {
        const d = ratio(byMode[mode]?.median, byMode.direct?.median);
        if (d !== undefined && mode !== 'direct' && !spec.proxyOnly) toDirect[mode] = d;
        const p = ratio(byMode[mode]?.median, byMode[info.peer]?.median);
        if (p !== undefined && mode !== info.peer && mode !== 'direct') toPeer[mode] = p;
      }
      return { spec, byMode, toDirect, toPeer };
    });
    return { scenario: info.name, peer: info.peer, modes: info.modes, failures, metrics };
  });
}
