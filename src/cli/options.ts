/**
 * Parsers for command-line values shared by several subcommands (ports, marks, durations, counts). Each throws a
 * UsageError naming the flag, the value and what was expected, so a bad flag exits 2 with one clear line.
 */
import { UsageError } from '../errors';

export function parsePort(flag: string, value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535 || Number(value) < 1) {
    throw new UsageError(`${flag}: expected a port number 1-65535, got '${value}'`);
  }
  return Number(value);
}

/** Marks are decimal or 0x-hex, non-zero, 32-bit. */
export function parseMark(flag: string, value: string): number {
  const n = /^0x[0-9a-f]{1,8}$/i.test(value) ? Number.parseInt(value.slice(2), 16) : /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) {
    throw new UsageError(`${flag}: expected a non-zero 32-bit mark (decimal or 0x-hex), got '${value}'`);
  }
  return n;
}

export function parseCount(flag: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${flag}: expected an integer ${min}-${max}, got '${value}'`);
  }
  return Number(value);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Durations like `250ms`, `5s`, `1m`, `1h` (a bare number is milliseconds). */
export function parseDuration(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value);
  if (!m) throw new UsageError(`${flag}: expected a duration like 500ms, 5s, 1m or 1h, got '${value}'`);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!);
}

export function parseChoice<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`${flag}: expected one of ${choices.join(', ')}, got '${value}'`);
  }
  return value as T;
}
