/**
 * HAProxy's configuration as a transparent sidecar (the peer data plane): the same listeners and capture contract
 * as sidelane — transparent binds on 15006 (inbound) and 15001 (outbound), and `server … 0.0.0.0`, which HAProxy
 * documents as "connect to the address the client connected to" (the original destination under TPROXY).
 *
 * Towards the local app HAProxy connects from 127.0.0.6 (Istio's inbound passthrough source; the capture leaves
 * its replies out of conntrack): the client's address is not preserved, see haproxy-sidecars.ts for why. Towards
 * the original destination it uses `source 0.0.0.0 usesrc clientip` (the pod's own address, as a transparent
 * socket): HAProxy 2.6 cannot put an SO_MARK on server connections, and a transparent socket is what the capture's
 * `socket --transparent` rules recognise, so the replies of its upstream legs stay out of conntrack too.
 */

export type HaproxyProtocol = 'tcp' | 'http';

export interface HaproxyConfigOptions {
  readonly protocol: HaproxyProtocol;
  /** nbthread: the same number of cores sidelane gets with --concurrency. */
  readonly threads: number;
  /** Frontend and global connection limit (file descriptors: two per proxied connection). */
  readonly maxConnections: number;
  readonly inboundPort: number;
  readonly outboundPort: number;
}

export function haproxyConfig(o: HaproxyConfigOptions): string {
  const http = o.protocol === 'http';
  return [
    `# HAProxy as a transparent sidecar for sidelane bench (generated; mode ${o.protocol})`,
    'global',
    `  nbthread ${o.threads}`,
    `  maxconn ${o.maxConnections}`,
    '',
    'defaults',
    `  mode ${o.protocol}`,
    `  maxconn ${o.maxConnections}`,
    '  timeout connect 10s',
    '  timeout client 1h',
    '  timeout server 1h',
    // `http-reuse never`: each client connection keeps its own server connection. With `safe` (HAProxy's default)
    // every load run after the first through the same HAProxy ran at a third of the speed (~4,500 instead of
    // ~14,500 req/s, ~330 instead of ~90 µs of CPU per request, measured with `bench --modes haproxy-http
    // --scenarios l7 --repeat 3 --warmup 0`); the peer is configured as it performs best here.
    ...(http ? ['  timeout http-request 1h', '  timeout http-keep-alive 1h', '  option http-keep-alive', '  http-reuse never'] : []),
    '',
    'frontend inbound',
    `  bind 0.0.0.0:${o.inboundPort} transparent`,
    '  default_backend inbound_app',
    '',
    'backend inbound_app',
    '  source 127.0.0.6',
    '  server app 0.0.0.0',
    '',
    'frontend outbound',
    `  bind 0.0.0.0:${o.outboundPort} transparent`,
    '  default_backend original_destination',
    '',
    'backend original_destination',
    '  source 0.0.0.0 usesrc clientip',
    '  server original 0.0.0.0',
    '',
  ].join('\n');
}
