/**
 * Durations as configuration writes them: `250ms`, `5s`, `1.5m`, `1h`, or a bare number of milliseconds. Parsed once
 * at load time; the data path only ever sees milliseconds.
 */

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * The longest duration a timer can hold: Node's timers are 32-bit signed milliseconds and fire after 1 ms when given
 * more (TimeoutOverflowWarning) — a 1000h connect timeout would time every connect out at once.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;
/** MAX_DURATION_MS as messages say it (596h 31m 23.647s). */
export const MAX_DURATION_TEXT = '596h';
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** Milliseconds, or undefined when the text is not a duration; 'too-long' past MAX_DURATION_MS. */
export function parseDurationMs(value: string | number): number | 'too-long' | undefined {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return undefined;
    ms = Math.round(value);
  } else {
    const m = PATTERN.exec(value.trim());
    if (!m) return undefined;
    ms = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  }
  return ms > MAX_DURATION_MS ? 'too-long' : ms;
}

/** The shortest exact spelling (`1500ms` → `1.5s` is avoided: `1500ms`), for config dumps. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
