/**
 * What the demo's traffic should show and what it did: the share of each reviews version a request is expected
 * to reach, read from the generated routes (never hard-coded), the counts actually observed, and latency
 * percentiles. Pure.
 */
import type { ConfigInput } from './mesh-config';
import type { RequestOutcome } from './traffic-client';

type RouteInput = NonNullable<ConfigInput['routes']>[number];
type HttpRouteInput = NonNullable<RouteInput['http']>[number];

/** Subset → expected share in percent. */
export type Shares = Record<string, number>;

function matchesHeaders(route: HttpRouteInput, headers: Readonly<Record<string, string>>): boolean {
  if (route.match === undefined) return true;
  // A block matches when each of its header conditions does (the demo only sends end-user); other conditions
  // (uri, method…) are not evaluated here, so such a block is not taken as matching.
  return route.match.some((block) => {
    const keys = Object.keys(block).filter((k) => k !== 'name');
    if (keys.some((k) => k !== 'headers')) return false;
    return Object.entries(block.headers ?? {}).every(([name, m]) => {
      const v = headers[name.toLowerCase()];
      if ('present' in m && m.present !== undefined) return m.present === (v !== undefined);
      if (v === undefined) return false;
      if (m.exact !== undefined) return v === m.exact;
      if (m.prefix !== undefined) return v.startsWith(m.prefix);
      return m.regex !== undefined && new RegExp(`^(?:${m.regex})$`).test(v);
    });
  });
}

/**
 * The shares of a request with these headers to `host`, per subset, from the first HTTP route that matches
 * (as the proxy picks). Undefined when no rule routes that host.
 */
export function expectedShares(routes: readonly RouteInput[], host: string, headers: Readonly<Record<string, string>> = {}): Shares | undefined {
  const rule = routes.find((r) => r.host === host);
  const route = rule?.http?.find((r) => matchesHeaders(r, headers));
  if (!route) return undefined;
  const dests = route.route.map((d) => ({ subset: String(d.destination?.subset ?? d.subset ?? ''), weight: d.weight }));
  const total = dests.reduce((s, d) => s + (d.weight ?? 1), 0);
  const out: Shares = {};
  for (const d of dests) out[d.subset] = (out[d.subset] ?? 0) + (100 * (d.weight ?? 1)) / total;
  return out;
}

/** Answers per reviews version. */
export function countVersions(outcomes: readonly RequestOutcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) if (o.version !== null) out[o.version] = (out[o.version] ?? 0) + 1;
  return out;
}

/** The p-th percentile (nearest rank) of the durations, in ms. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * The half-width of the band an observed count falls in with overwhelming probability (5 standard deviations of
 * the binomial): a split is "as configured" when |observed − expected| is within it. 5σ: a correct proxy fails
 * this check about once in 1.7 million runs.
 */
export function binomialTolerance(requests: number, sharePercent: number): number {
  const p = sharePercent / 100;
  return Math.ceil(5 * Math.sqrt(requests * p * (1 - p)));
}
