/**
 * Inbound routing when no configuration says otherwise: every captured inbound port is TCP passthrough to the
 * local app (`inbound|<port>||`), the source preserved or from 127.0.0.6.
 */
import type { Connector } from '../transport/connector';
import type { ConnectionHandler, DownstreamConnection } from '../transport/downstream';
import { proxyTcp } from '../transport/tcp-proxy';
import { localAppRequest, type LocalAppOptions } from './local-app';

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

export class InboundPassthrough implements ConnectionHandler {
  constructor(
    private readonly connector: Connector,
    private readonly options: LocalAppOptions & { readonly idleTimeoutMs: number },
  ) {}

  handle(conn: DownstreamConnection): void {
    void proxyTcp(
      conn,
      {
        cluster: inboundClusterName(conn.origDst.port),
        request: localAppRequest(conn, this.options),
        idleTimeoutMs: this.options.idleTimeoutMs,
      },
      this.connector,
    );
  }
}
