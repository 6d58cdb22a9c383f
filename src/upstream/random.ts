/**
 * RANDOM: a uniformly random healthy endpoint, or weight-proportional when weights differ (cumulative weights and
 * a binary search, rebuilt only when the endpoint set changes).
 */
import type { Endpoint } from './endpoint';
import type { EndpointSet } from './endpoint-set';
import type { LoadBalancer } from './load-balancer';
import { randomIndex, type RandomSource } from './random-source';

export class RandomLoadBalancer implements LoadBalancer {
  private cumulative: number[] = [];
  private version = -1;

  constructor(private readonly random: RandomSource) {}

  pick(set: EndpointSet): Endpoint | undefined {
    const healthy = set.healthy;
    const n = healthy.length;
    if (n === 0) return undefined;
    if (set.uniformWeights) return healthy[randomIndex(this.random, n)];
    if (this.version !== set.version) {
      let sum = 0;
      this.cumulative = healthy.map((ep) => (sum += ep.weight));
      this.version = set.version;
    }
    const target = this.random.next() * this.cumulative[n - 1]!;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cumulative[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    return healthy[lo];
  }
}
