/**
 * Outbound routing (the outbound listener's ConnectionHandler): the original destination picks the filter chain —
 * a service address or endpoint (its service port's protocol), any other address on a port some service declares
 * HTTP (routed by Host), or nothing known (PassthroughCluster under ALLOW_ANY, BlackHoleCluster under
 * REGISTRY_ONLY) — and the chain runs with the routing snapshot current at accept time.
 */
import type { ConnectionHandler, DownstreamConnection } from '../transport/downstream';
import { runFilterChain, type FilterChainDeps } from '../sidecar/filter-chain';
import type { RoutingState } from '../sidecar/routing-state';

export class OutboundRouter implements ConnectionHandler {
  constructor(
    private readonly state: RoutingState,
    private readonly deps: FilterChainDeps,
  ) {}

  handle(conn: DownstreamConnection): void {
    const routing = this.state.current;
    runFilterChain(conn, routing, routing.outboundChain(conn), this.deps);
  }
}
