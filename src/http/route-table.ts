/**
 * Route configurations (Envoy RDS): virtual hosts chosen by Host/:authority (exact domains, with and without the
 * port, `*` as the catch-all), and inside each, routes tried in order — the first whose match blocks accept the
 * request wins — leading to weighted clusters or a direct response. Specs are plain data (dumped by the admin API);
 * RouteTable is their compiled form.
 */
import type { RandomSource } from '../upstream/random-source';
import { RequestMatcher, type MatchInput, type MatchSpec } from './route-match';
import { RetryPolicy, type RetryPolicySpec } from './retry-policy';

export interface WeightedClusterSpec {
  readonly cluster: string;
  readonly weight: number;
  /** Destination service host (Istio's destination_service). */
  readonly service?: string;
  readonly subset?: string;
}

export type RouteActionSpec =
  | {
      readonly kind: 'route';
      readonly clusters: readonly WeightedClusterSpec[];
      /** 0 = no route timeout. */
      readonly timeoutMs: number;
      readonly retry: RetryPolicySpec;
    }
  | { readonly kind: 'direct'; readonly status: number; readonly body: string };

export interface RouteSpec {
  /** The route's name (Istio http route name), for access logs; undefined when the configuration gave none. */
  readonly name?: string;
  /** Match blocks, OR-ed; empty = match everything. */
  readonly match: readonly MatchSpec[];
  readonly action: RouteActionSpec;
  /** The configuration this route came from (e.g. `routes[0].http[1]`), or `default`. */
  readonly origin: string;
}

export interface VirtualHostSpec {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly RouteSpec[];
  /** The service this virtual host stands for, if any (fallback by original destination). */
  readonly service?: string;
}

export interface RouteConfigSpec {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHostSpec[];
}

export class Route {
  readonly name: string | undefined;
  readonly action: RouteActionSpec;
  readonly retry: RetryPolicy | undefined;
  private readonly matchers: readonly RequestMatcher[];
  private readonly totalWeight: number;

  constructor(readonly spec: RouteSpec) {
    this.name = spec.name;
    this.action = spec.action;
    this.matchers = spec.match.map((m) => new RequestMatcher(m));
    this.retry = spec.action.kind === 'route' ? new RetryPolicy(spec.action.retry) : undefined;
    this.totalWeight = spec.action.kind === 'route' ? spec.action.clusters.reduce((s, c) => s + c.weight, 0) : 0;
  }

  matches(input: MatchInput): boolean {
    const m = this.matchers;
    if (m.length === 0) return true;
    for (let i = 0; i < m.length; i++) if (m[i]!.matches(input)) return true;
    return false;
  }

  /** The destination for one request, by weight. */
  pickCluster(random: RandomSource): WeightedClusterSpec {
    return pickWeighted((this.action as Extract<RouteActionSpec, { kind: 'route' }>).clusters, this.totalWeight, random);
  }
}

/** One of `clusters` with probability weight / total (a weight of 0 is never chosen). */
export function pickWeighted(clusters: readonly WeightedClusterSpec[], total: number, random: RandomSource): WeightedClusterSpec {
  if (clusters.length === 1) return clusters[0]!;
  let target = random.next() * total;
  for (let i = 0; i < clusters.length; i++) {
    target -= clusters[i]!.weight;
    if (target < 0 && clusters[i]!.weight > 0) return clusters[i]!;
  }
  // Floating point remainder: the last destination with a weight.
  for (let i = clusters.length - 1; i >= 0; i--) if (clusters[i]!.weight > 0) return clusters[i]!;
  return clusters[clusters.length - 1]!;
}

export class VirtualHost {
  readonly name: string;
  readonly service: string | undefined;
  readonly routes: readonly Route[];

  constructor(readonly spec: VirtualHostSpec) {
    this.name = spec.name;
    this.service = spec.service;
    this.routes = spec.routes.map((r) => new Route(r));
  }

  /** The first route that accepts the request (routes are ordered, as in a VirtualService). */
  match(input: MatchInput): Route | undefined {
    const routes = this.routes;
    for (let i = 0; i < routes.length; i++) if (routes[i]!.matches(input)) return routes[i];
    return undefined;
  }
}

export class RouteTable {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHost[];
  private readonly byDomain = new Map<string, VirtualHost>();
  private readonly byService = new Map<string, VirtualHost>();
  private readonly wildcard: VirtualHost | undefined;

  constructor(readonly spec: RouteConfigSpec) {
    this.name = spec.name;
    this.virtualHosts = spec.virtualHosts.map((v) => new VirtualHost(v));
    let wildcard: VirtualHost | undefined;
    for (const vh of this.virtualHosts) {
      for (const d of vh.spec.domains) {
        if (d === '*') wildcard ??= vh;
        else if (!this.byDomain.has(d.toLowerCase())) this.byDomain.set(d.toLowerCase(), vh);
      }
      if (vh.service !== undefined && !this.byService.has(vh.service)) this.byService.set(vh.service, vh);
    }
    this.wildcard = wildcard;
  }

  /** The virtual host for a Host/:authority value (exact domain, with or without port), not the catch-all. */
  findVirtualHost(authority: string): VirtualHost | undefined {
    const exact = this.byDomain.get(authority);
    if (exact !== undefined) return exact;
    const lower = authority.toLowerCase();
    return lower === authority ? undefined : this.byDomain.get(lower);
  }

  virtualHostForService(host: string): VirtualHost | undefined {
    return this.byService.get(host);
  }

  /** The `*` virtual host (allow_any / block_all, or the inbound one). */
  get catchAll(): VirtualHost | undefined {
    return this.wildcard;
  }
}
