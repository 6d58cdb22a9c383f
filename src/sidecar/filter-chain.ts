/**
 * Runs the filter chain chosen for an accepted connection (inbound or outbound): bytes to a cluster for TCP (natively
 * relayed when the connection is still a raw fd), the HTTP connection manager for HTTP, or — for AUTO — protocol
 * sniffing first, replaying what was read. A TCP chain never waits for the client to speak, so server-first
 * protocols work.
 */
import type { Connector } from '../transport/connector';
import type { DownstreamConnection } from '../transport/downstream';
import type { NativeRelay } from '../transport/native-relay';
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
  /** The native relay (native data path); absent: TCP bytes go through the JavaScript relay. */
  readonly relay?: NativeRelay | undefined;
}

export function runFilterChain(conn: DownstreamConnection, routing: ActiveRouting, chain: FilterChain, deps: FilterChainDeps): void {
  switch (chain.protocol) {
    case 'TCP':
      runTcp(conn, routing, chain, deps);
      return;
    case 'HTTP':
      runHttp(conn, routing, chain, deps, conn.initialData);
      return;
    case 'AUTO':
      void sniffProtocol(conn.socket(), conn.initialData, routing.snapshot.protocolDetectionTimeoutMs).then((r) => {
        if (r.closed) {
          conn.socket().destroy();
          return;
        }
        // Whatever was read is replayed to the handler (HTTP parser or relay), after the bytes read before.
        conn.initialData = r.data;
        if (r.protocol === 'HTTP') runHttp(conn, routing, chain, deps, r.data);
        else runTcp(conn, routing, chain, deps);
      });
      return;
  }
}

function runHttp(conn: DownstreamConnection, routing: ActiveRouting, chain: FilterChain, deps: FilterChainDeps, initial: Buffer | undefined): void {
  deps.http.handle({ conn, port: chain.port, serviceHost: chain.service, snapshot: routing }, initial);
}

function runTcp(conn: DownstreamConnection, routing: ActiveRouting, chain: FilterChain, deps: FilterChainDeps): void {
  const dest = chain.tcp.length === 1 ? chain.tcp[0]! : pickWeightedTcp(chain, deps.random);
  const cluster = routing.cluster(dest.cluster);
  if (cluster === undefined) {
    conn.reset();
    publishTcpClose({ conn, cluster: dest.cluster, bytesReceived: 0, bytesSent: 0, durationMs: 0, responseFlags: 'NC', end: 'refused' });
    return;
  }
  proxyTcpToCluster(conn, cluster, deps, dest.service);
}

/** Weighted TCP split (a `tcp` route with several destinations), decided per connection. */
function pickWeightedTcp(chain: FilterChain, random: RandomSource): FilterChain['tcp'][number] {
  return pickWeighted(chain.tcp, chain.tcp.reduce((s, d) => s + d.weight, 0), random);
}
