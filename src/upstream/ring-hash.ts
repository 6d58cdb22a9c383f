/**
 * RING_HASH (Envoy's ketama-style consistent hashing): every endpoint owns points on a 32-bit ring in proportion to
 * its weight; a request's hash key (a header, a query parameter or the client address) maps to the first point at
 * or after it whose endpoint is healthy. The ring is built from membership, not health, so an ejection moves only
 * the ejected endpoint's keys (to their next points) and they come back when it returns.
 */
import type { Endpoint } from './endpoint';
import type { EndpointSet } from './endpoint-set';
import type { LoadBalancer } from './load-balancer';
import type { RandomSource } from './random-source';

/** FNV-1a over the UTF-16 code units with murmur3's finaliser: fast, and well spread over 32 bits. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class RingHashLoadBalancer implements LoadBalancer {
  private points = new Uint32Array(0);
  private owners: Endpoint[] = [];
  private version = -1;

  constructor(
    private readonly random: RandomSource,
    private readonly minimumRingSize: number,
  ) {}

  pick(set: EndpointSet, hash: number | undefined): Endpoint | undefined {
    if (set.healthy.length === 0) return undefined;
    if (this.version !== set.membershipVersion) this.build(set);
    const h = hash ?? Math.floor(this.random.next() * 0x100000000);
    const points = this.points;
    const n = points.length;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    // Walk clockwise past ejected endpoints (there is at least one healthy one).
    for (let i = 0; i < n; i++) {
      const owner = this.owners[(lo + i) % n]!;
      if (!owner.ejected) return owner;
    }
    return undefined;
  }

  /** The ring size actually built (for admin views and tests). */
  get size(): number {
    return this.points.length;
  }

  private build(set: EndpointSet): void {
    const members = set.all;
    const totalWeight = members.reduce((s, ep) => s + ep.weight, 0);
    const entries: { point: number; owner: Endpoint }[] = [];
    for (const ep of members) {
      const replicas = Math.max(1, Math.ceil((this.minimumRingSize * ep.weight) / totalWeight));
      for (let i = 0; i < replicas; i++) entries.push({ point: hashKey(`${ep.key}_${i}`), owner: ep });
    }
    // Ties (rare) resolve by endpoint key so every process builds the same ring.
    entries.sort((a, b) => a.point - b.point || (a.owner.key < b.owner.key ? -1 : 1));
    this.points = Uint32Array.from(entries, (e) => e.point);
    this.owners = entries.map((e) => e.owner);
    this.version = set.membershipVersion;
  }
}
