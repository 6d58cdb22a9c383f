/**
 * The load-balancer interface and the factory that builds one from a cluster's policy. Each policy lives in its own
 * module (round-robin, least-request, random, ring-hash) and picks among the endpoint set's healthy endpoints.
 */
import type { Endpoint } from './endpoint';
import type { EndpointSet } from './endpoint-set';
import type { RandomSource } from './random-source';
import { RoundRobinLoadBalancer } from './round-robin';
import { LeastRequestLoadBalancer } from './least-request';
import { RandomLoadBalancer } from './random';
import { RingHashLoadBalancer } from './ring-hash';

export interface LoadBalancer {
  /**
   * Chooses a healthy endpoint, or undefined when none is healthy. `hash` is the request's hash key (RING_HASH;
   * undefined → a random point on the ring).
   */
  pick(set: EndpointSet, hash: number | undefined): Endpoint | undefined;
}

/** Where a consistent hash comes from (Istio's consistentHash). */
export type HashKeySource =
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'query'; readonly name: string }
  | { readonly kind: 'sourceIp' };

export type LoadBalancerPolicy =
  | { readonly policy: 'ROUND_ROBIN' }
  | { readonly policy: 'LEAST_REQUEST' }
  | { readonly policy: 'RANDOM' }
  | { readonly policy: 'RING_HASH'; readonly hashKey: HashKeySource; readonly minimumRingSize: number };

export function createLoadBalancer(policy: LoadBalancerPolicy, random: RandomSource): LoadBalancer {
  switch (policy.policy) {
    case 'ROUND_ROBIN':
      return new RoundRobinLoadBalancer();
    case 'LEAST_REQUEST':
      return new LeastRequestLoadBalancer(random);
    case 'RANDOM':
      return new RandomLoadBalancer(random);
    case 'RING_HASH':
      return new RingHashLoadBalancer(random, policy.minimumRingSize);
  }
}
