/**
 * Parsers for command-line values shared by several subcommands (ports, marks, durations, counts). Each throws a
 * UsageError naming the flag, the value and what was expected, so a bad flag exits 2 with one clear line.
 */
import { UsageError } from '../errors';
import { MAX_DURATION_MS, MAX_DURATION_TEXT } from '../config/duration';
// One line whatever the value holds: quoted, control characters escaped, long values cut.
import { shown as quoted } from '../capture/validation';

export function parsePort(flag: string, value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535 || Number(value) < 1) {
    throw new UsageError(`${flag}: expected a port number 1-65535, got ${quoted(value)}`);
  }
  return Number(value);
}

/** Marks are decimal or 0x-hex, non-zero, 32-bit. */
export function parseMark(flag: string, value: string): number {
  const n = /^0x[0-9a-f]{1,8}$/i.test(value) ? Number.parseInt(value.slice(2), 16) : /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) {
    throw new UsageError(`${flag}: expected a non-zero 32-bit mark (decimal or 0x-hex), got ${quoted(value)}`);
  }
  return n;
}

export function parseCount(flag: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${flag}: expected an integer ${min}-${max}, got ${quoted(value)}`);
  }
  return Number(value);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Durations like `250ms`, `5s`, `1m`, `1h` (a bare number is milliseconds), from `min` ms (default 0) up to what a
 * timer can hold (MAX_DURATION_MS: longer would fire at once).
 */
export function parseDuration(flag: string, value: string, min = 0): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value);
  if (!m) throw new UsageError(`${flag}: expected a duration like 500ms, 5s, 1m or 1h, got ${quoted(value)}`);
  const ms = Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!);
  if (ms > MAX_DURATION_MS) throw new UsageError(`${flag}: expected a duration of at most ${MAX_DURATION_TEXT}, got ${quoted(value)}`);
  if (ms < min) throw new UsageError(`${flag}: expected a duration of at least ${min}ms, got ${quoted(value)}`);
  return ms;
}

export function parseChoice<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`${flag}: expected one of ${choices.join(', ')}, got ${quoted(value)}`);
  }
  return value as T;
}

/** A file path given on the command line: non-empty, no control characters (a NUL or newline is never meant). */
export function parseFilePath(flag: string, value: string, expected = 'a file path'): string {
  if (value.trim() === '' || /[\u0000-\u001f\u007f]/.test(value)) throw new UsageError(`${flag}: expected ${expected}, got ${quoted(value)}`);
  return value;
}

/** Distinct ports: the first pair of flags naming the same (non-zero) port is a usage error. */
export function requireDistinctPorts(ports: readonly (readonly [string, number | undefined])[]): void {
  const seen = new Map<number, string>();
  for (const [flag, port] of ports) {
    if (port === undefined || port === 0) continue;
    const other = seen.get(port);
    if (other !== undefined) throw new UsageError(`${other} and ${flag}: expected different ports, got ${port} for both`);
    seen.set(port, flag);
  }
}
