/**
 * The endpoints of one cluster and the healthy subset load balancers choose from. Membership updates (reloads)
 * keep the Endpoint objects that persist, so pools and outlier state survive; every membership or health change
 * bumps `version`, which load balancers use to rebuild their cached structures (rings, weights) only when needed.
 */
import { Endpoint, type EndpointSpec } from './endpoint';

export class EndpointSet {
  private members: Endpoint[] = [];
  private healthyMembers: Endpoint[] = [];
  private byKey = new Map<string, Endpoint>();
  /** Bumped on any membership or health change. */
  version = 0;
  /** Bumped only when endpoints join, leave or change weight (not on ejection). */
  membershipVersion = 0;
  /** True when every healthy endpoint has the same weight (the fast, unweighted paths apply). */
  uniformWeights = true;

  constructor(specs: readonly EndpointSpec[] = []) {
    this.update(specs);
  }

  get all(): readonly Endpoint[] {
    return this.members;
  }

  /** Endpoints not ejected by outlier detection. */
  get healthy(): readonly Endpoint[] {
    return this.healthyMembers;
  }

  get size(): number {
    return this.members.length;
  }

  get(key: string): Endpoint | undefined {
    return this.byKey.get(key);
  }

  /** Replaces the membership; returns the endpoints that left (their pools are closed by the cluster). */
  update(specs: readonly EndpointSpec[]): Endpoint[] {
    const next = new Map<string, Endpoint>();
    const members: Endpoint[] = [];
    for (const spec of specs) {
      const probe = new Endpoint(spec);
      if (next.has(probe.key)) continue; // the same ip:port twice is one endpoint
      const existing = this.byKey.get(probe.key);
      const ep = existing ?? probe;
      ep.labels = spec.labels;
      ep.weight = spec.weight;
      next.set(ep.key, ep);
      members.push(ep);
    }
    const removed = this.members.filter((ep) => !next.has(ep.key));
    for (const ep of removed) ep.removed = true;
    this.members = members;
    this.byKey = next;
    this.membershipVersion += 1;
    this.healthChanged();
    return removed;
  }

  /** Adds one endpoint created on demand (ORIGINAL_DST clusters). */
  add(ep: Endpoint): void {
    this.byKey.set(ep.key, ep);
    this.members.push(ep);
    this.membershipVersion += 1;
    this.healthChanged();
  }

  remove(ep: Endpoint): void {
    if (!this.byKey.delete(ep.key)) return;
    ep.removed = true;
    this.members = this.members.filter((m) => m !== ep);
    this.membershipVersion += 1;
    this.healthChanged();
  }

  /** Recomputes the healthy list after an ejection or un-ejection. */
  healthChanged(): void {
    this.healthyMembers = this.members.filter((ep) => !ep.ejected);
    const w = this.healthyMembers[0]?.weight;
    this.uniformWeights = this.healthyMembers.every((ep) => ep.weight === w);
    this.version += 1;
  }
}
