/**
 * The order in which cells (scenario × mode × repetition) run. Modes alternate as closely as possible: for each
 * scenario, every mode runs once before any runs again, and each repetition rotates the mode order by one, so a
 * slow drift of the machine (other load, thermal state) spreads over all modes instead of biasing one.
 */
import type { ModeName, ScenarioName } from './settings';

export interface PlannedCell {
  /** 0-based repetition. */
  readonly repetition: number;
  readonly scenario: ScenarioName;
  readonly mode: ModeName;
}

/** `rotate([a,b,c], 1)` → `[b,c,a]`. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = ((by % items.length) + items.length) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export function planCells(
  scenarios: readonly ScenarioName[],
  modes: readonly ModeName[],
  repeat: number,
  applies: (scenario: ScenarioName, mode: ModeName) => boolean,
): PlannedCell[] {
  const cells: PlannedCell[] = [];
  for (let repetition = 0; repetition < repeat; repetition++) {
    for (const scenario of scenarios) {
      const eligible = modes.filter((m) => applies(scenario, m));
      for (const mode of rotate(eligible, repetition)) cells.push({ repetition, scenario, mode });
    }
  }
  return cells;
}
