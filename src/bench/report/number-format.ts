/**
 * How numbers read in the reports: fixed decimals chosen by the metric, thousands grouped with commas (written
 * out here rather than through Intl so output is identical on every Node build), ratios as `0.85×`.
 */
import type { MetricSpec } from '../scenarios/scenario';

function grouped(fixed: string): string {
  const [int, frac] = fixed.split('.');
  const sign = int!.startsWith('-') ? '-' : '';
  const digits = sign ? int!.slice(1) : int!;
  const withCommas = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${withCommas}${frac !== undefined ? `.${frac}` : ''}`;
}

export function decimalsFor(spec: Pick<MetricSpec, 'digits'>, value: number): number {
  if (spec.digits !== undefined) return spec.digits;
  return Math.abs(value) >= 100 ? 0 : 2;
}

export function formatValue(spec: Pick<MetricSpec, 'digits'>, value: number): string {
  const d = decimalsFor(spec, value);
  const fixed = value.toFixed(d);
  // -0.00 reads as a measurement of a negative quantity; it is zero.
  return grouped(/^-0(\.0+)?$/.test(fixed) ? fixed.slice(1) : fixed);
}

export function formatRatio(r: number): string {
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

export function betterArrow(spec: Pick<MetricSpec, 'better'>): string {
  return spec.better === 'higher' ? '↑' : '↓';
}
