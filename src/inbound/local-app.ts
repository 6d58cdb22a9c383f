/**
 * Inbound TCP passthrough to the local application (`inbound|<port>||` with ORIGINAL_DST): connect to the original
 * destination with the client's own source address (transparent, DESIGN 3.2) or from 127.0.0.6 / ::6, marked
 * with the bypass mark, and relay bytes both ways.
 */
import type { Connector, ConnectRequest } from '../transport/connector';
import type { DownstreamConnection } from '../transport/downstream';

export interface LocalAppOptions {
  readonly preserveSource: boolean;
  readonly bypassMark: number;
  readonly connectTimeoutMs: number;
}

/** The source address the proxy uses towards the local app when the client's is not preserved (Istio's). */
export function passthroughSource(family: 4 | 6): string {
  return family === 6 ? '::6' : '127.0.0.6';
}

/** Builds the connect request to the local app for one inbound connection. */
export function localAppRequest(conn: DownstreamConnection, options: LocalAppOptions): ConnectRequest {
  const source = options.preserveSource ? conn.client.address : passthroughSource(conn.origDst.family);
  return {
    target: conn.origDst,
    source: { address: source },
    // Binding a non-local address (the client's, or ::6 when it is not on lo) needs IP_TRANSPARENT.
    transparent: true,
    mark: options.bypassMark,
    timeoutMs: options.connectTimeoutMs,
  };
}

export type { Connector };
