/**
 * Runs the filter chain chosen for an accepted connection (inbound or outbound): bytes to a cluster for TCP, the
 * HTTP connection manager for HTTP, or — for AUTO — protocol sniffing first, replaying what was read. A TCP chain
 * never waits for the client to speak, so server-first protocols work.
 */
import type { Connector } from '../transport/connector';
import type { DownstreamConnection } from '../transport/downstream';
import { publishTcpClose } from '../telemetry/events';
import type { FilterChain } from '../config/snapshot';
import type { HttpConnectionManager } from '../http/connection-manager';
import { sniffProtocol } from '../http/protocol-sniffer';
import { pickWeighted } from '../http/route-table';
import type { RandomSource } from '../upstream/random-source';
import { proxyTcpToCluster } from '../upstream/tcp-upstream';
import type { ActiveRouting } from './routing-state';

export interface FilterChainDeps {
  readonly connector: Connector;
  readonly http: HttpConnectionManager;
  readonly random: RandomSource;
}

export function runFilterChain(conn: DownstreamConnection, routing: ActiveRouting, chain: FilterChain, deps: FilterChainDeps): void {
  switch (chain.protocol) {
    case 'TCP':
      void runTcp(conn, routing, chain, deps);
      return;
    case 'HTTP':
      runHttp(conn, routing, chain, deps, conn.initialData);
      return;
    case 'AUTO':
      void sniffProtocol(conn.socket, conn.initialData, routing.snapshot.protocolDetectionTimeoutMs).then((r) => {
        if (r.closed) {
          conn.socket.destroy();
          return;
        }
        const replay: DownstreamConnection = r.data === conn.initialData ? conn : { ...conn, ...(r.data ? { initialData: r.data } : {}) };
        if (r.protocol === 'HTTP') runHttp(replay, routing, chain, deps, r.data);
        else void runTcp(replay, routing, chain, deps);
      });
      return;
  }
}

function runHttp(conn: DownstreamConnection, routing: ActiveRouting, chain: FilterChain, deps: FilterChainDeps, initial: Buffer | undefined): void {
  deps.http.handle({ conn, port: chain.port, serviceHost: chain.service, snapshot: routing }, initial);
}

async function runTcp(conn: DownstreamConnection, routing: ActiveRouting, chain: FilterChain, deps: FilterChainDeps): Promise<void> {
  const dest = chain.tcp.length === 1 ? chain.tcp[0]! : pickWeightedTcp(chain, deps.random);
  const cluster = routing.cluster(dest.cluster);
  if (cluster === undefined) {
    conn.socket.on('error', () => undefined);
    conn.socket.resetAndDestroy();
    publishTcpClose({ conn, cluster: dest.cluster, bytesReceived: 0, bytesSent: 0, durationMs: 0, responseFlags: 'NC', end: 'refused' });
    return;
  }
  await proxyTcpToCluster(conn, cluster, deps.connector, dest.service);
}

/** Weighted TCP split (a `tcp` route with several destinations), decided per connection. */
function pickWeightedTcp(chain: FilterChain, random: RandomSource): FilterChain['tcp'][number] {
  return pickWeighted(chain.tcp, chain.tcp.reduce((s, d) => s + d.weight, 0), random);
}
