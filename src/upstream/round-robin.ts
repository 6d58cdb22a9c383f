/**
 * ROUND_ROBIN: endpoints in turn. With unequal weights, smooth weighted round robin (nginx's algorithm): each pick
 * raises every endpoint's current weight by its weight and takes the highest, so a 3:1 split interleaves
 * (a a b a …) instead of bursting.
 */
import type { Endpoint } from './endpoint';
import type { EndpointSet } from './endpoint-set';
import type { LoadBalancer } from './load-balancer';

export class RoundRobinLoadBalancer implements LoadBalancer {
  private next = 0;
  private current: number[] = [];
  private version = -1;

  pick(set: EndpointSet): Endpoint | undefined {
    const healthy = set.healthy;
    const n = healthy.length;
    if (n === 0) return undefined;
    if (set.uniformWeights) {
      if (this.next >= n) this.next = 0;
      return healthy[this.next++];
    }
    if (this.version !== set.version) {
      this.current = new Array<number>(n).fill(0);
      this.version = set.version;
    }
    let total = 0;
    let best = 0;
    for (let i = 0; i < n; i++) {
      const w = healthy[i]!.weight;
      this.current[i]! += w;
      total += w;
      if (this.current[i]! > this.current[best]!) best = i;
    }
    this.current[best]! -= total;
    return healthy[best];
  }
}
