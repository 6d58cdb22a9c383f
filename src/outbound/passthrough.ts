/**
 * Outbound routing when no configuration says otherwise: connect to the original destination itself
 * (Istio's PassthroughCluster under ALLOW_ANY), marked so capture lets the proxy's own connection through.
 */
import type { Connector } from '../transport/connector';
import type { ConnectionHandler, DownstreamConnection } from '../transport/downstream';
import { proxyTcp } from '../transport/tcp-proxy';

export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';

export class OutboundPassthrough implements ConnectionHandler {
  constructor(
    private readonly connector: Connector,
    private readonly options: { readonly bypassMark: number; readonly connectTimeoutMs: number; readonly idleTimeoutMs: number },
  ) {}

  handle(conn: DownstreamConnection): void {
    void proxyTcp(
      conn,
      {
        cluster: PASSTHROUGH_CLUSTER,
        request: { target: conn.origDst, mark: this.options.bypassMark, timeoutMs: this.options.connectTimeoutMs },
        idleTimeoutMs: this.options.idleTimeoutMs,
      },
      this.connector,
    );
  }
}
