/**
 * Inbound routing (the inbound listener's ConnectionHandler): the original destination port picks the chain — a
 * declared inbound port goes to `inbound|<port>||` as HTTP (per-request through the connection manager), TCP, or
 * sniffed (AUTO); any other port is TCP passthrough (InboundPassthroughCluster). Both reach the local application at
 * the original destination, from the client's own address or 127.0.0.6.
 */
import type { ConnectionHandler, DownstreamConnection } from '../transport/downstream';
import { runFilterChain, type FilterChainDeps } from '../sidecar/filter-chain';
import type { RoutingState } from '../sidecar/routing-state';

export class InboundRouter implements ConnectionHandler {
  constructor(
    private readonly state: RoutingState,
    private readonly deps: FilterChainDeps,
  ) {}

  handle(conn: DownstreamConnection): void {
    const routing = this.state.current;
    runFilterChain(conn, routing, routing.inboundChain(conn), this.deps);
  }
}
