/**
 * LEAST_REQUEST with the power of two choices (Envoy's default for equal weights): pick two endpoints at random and
 * take the one with fewer active requests. With unequal weights the comparison is active requests per unit of
 * weight, so heavier endpoints take proportionally more load.
 */
import type { Endpoint } from './endpoint';
import type { EndpointSet } from './endpoint-set';
import type { LoadBalancer } from './load-balancer';
import { randomIndex, type RandomSource } from './random-source';

export class LeastRequestLoadBalancer implements LoadBalancer {
  constructor(private readonly random: RandomSource) {}

  pick(set: EndpointSet): Endpoint | undefined {
    const healthy = set.healthy;
    const n = healthy.length;
    if (n === 0) return undefined;
    if (n === 1) return healthy[0];
    const i = randomIndex(this.random, n);
    // A second, distinct index: shift by 1..n-1.
    const j = (i + 1 + randomIndex(this.random, n - 1)) % n;
    const a = healthy[i]!;
    const b = healthy[j]!;
    if (set.uniformWeights) return b.stats.rq_active < a.stats.rq_active ? b : a;
    return (b.stats.rq_active + 1) / b.weight < (a.stats.rq_active + 1) / a.weight ? b : a;
  }
}
