/**
 * What `sidelane init` was asked to install, as validated typed values (DESIGN 3 and 8), plus the facts read from
 * the namespace it is installed in (ephemeral port range, IPv6). Every rule is derived from these two objects only.
 */
import type { Cidr, Family } from './cidr';
import { PortSet } from './port-set';

export type CaptureMode = 'tproxy' | 'redirect';
export type OutboundCapture = 'hook+tproxy' | 'hook' | 'tproxy' | 'none';
export type BackendChoice = 'auto' | 'nft' | 'iptables' | 'iptables-legacy' | 'iptables-nft';

export const CAPTURE_MODES: readonly CaptureMode[] = ['tproxy', 'redirect'];
export const OUTBOUND_CAPTURES: readonly OutboundCapture[] = ['hook+tproxy', 'hook', 'tproxy', 'none'];
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'nft', 'iptables', 'iptables-legacy', 'iptables-nft'];

/** `'*'` means every port / every destination; an empty list means none (Istio's meaning of an empty `-b`/`-i`). */
export type Wildcard = '*';

export interface CaptureOptions {
  readonly mode: CaptureMode;
  readonly outbound: OutboundCapture;
  readonly inboundPort: number;
  readonly outboundPort: number;
  readonly includeInboundPorts: PortSet | Wildcard;
  readonly excludeInboundPorts: PortSet;
  readonly includeOutboundCidrs: readonly Cidr[] | Wildcard;
  readonly excludeOutboundCidrs: readonly Cidr[];
  readonly includeOutboundPorts: PortSet;
  readonly excludeOutboundPorts: PortSet;
  readonly excludeInterfaces: readonly string[];
  /** Capture mark (TPROXY mark and policy-route fwmark), matched on the full value. */
  readonly mark: number;
  /** SO_MARK of the proxy's own sockets; capture never touches them. */
  readonly bypassMark: number;
  readonly routeTable: number;
  /** Istio-compatible proxy identities, excluded like the bypass mark (owner match). */
  readonly proxyUids: readonly number[];
  readonly proxyGids: readonly number[];
  readonly backend: BackendChoice;
  readonly preserveSource: boolean;
  readonly notrack: boolean;
  /** undefined: decide from the namespace (global IPv6 addresses present). */
  readonly ipv6: boolean | undefined;
}

/** Facts of the namespace the rules are built for. */
export interface CaptureEnvironment {
  readonly families: readonly Family[];
  /**
   * Source ports the kernel picks for unbound outbound sockets: net.ipv4.ip_local_port_range minus
   * net.ipv4.ip_local_reserved_ports (the same sysctls govern IPv6).
   */
  readonly ephemeralPorts: PortSet;
}

/** Inbound ports never captured (DESIGN 2): Prometheus 15090, health 15021, status 15020, HBONE 15008. */
export const MESH_PORTS = PortSet.of([15090, 15021, 15020, 15008]);
/** The proxy's admin port; never captured inbound (like its listeners). */
export const ADMIN_PORT = 15000;

/** Protocol number sidelane tags its `ip rule`s and routes with (`proto 83`), so cleanup finds exactly its own. */
export const ROUTE_PROTOCOL = 83;

/** The source the proxy uses towards the local app when the client's address is not preserved (Istio's). */
export const PASSTHROUGH_SOURCE: Readonly<Record<Family, Cidr>> = {
  4: { family: 4, address: '127.0.0.6', prefix: 32 },
  6: { family: 6, address: '::6', prefix: 128 },
};

export const DEFAULT_OPTIONS: CaptureOptions = {
  mode: 'tproxy',
  outbound: 'hook+tproxy',
  inboundPort: 15006,
  outboundPort: 15001,
  includeInboundPorts: '*',
  excludeInboundPorts: PortSet.EMPTY,
  includeOutboundCidrs: '*',
  excludeOutboundCidrs: [],
  includeOutboundPorts: PortSet.EMPTY,
  excludeOutboundPorts: PortSet.EMPTY,
  excludeInterfaces: [],
  mark: 0x539,
  bypassMark: 0x53a,
  routeTable: 133,
  proxyUids: [],
  proxyGids: [],
  backend: 'auto',
  preserveSource: true,
  notrack: true,
  ipv6: undefined,
};

/** Inbound ports the app serves directly: the mesh ports, the proxy's own ports and --exclude-inbound-ports. */
export function excludedInboundPorts(o: CaptureOptions): PortSet {
  return MESH_PORTS.union(PortSet.of([o.inboundPort, o.outboundPort, ADMIN_PORT])).union(o.excludeInboundPorts);
}

/** The explicitly captured inbound ports (include list minus exclusions), or '*' for "every other port". */
export function capturedInboundPorts(o: CaptureOptions): PortSet | Wildcard {
  return o.includeInboundPorts === '*' ? '*' : o.includeInboundPorts.minus(excludedInboundPorts(o));
}

export function inboundCaptureActive(o: CaptureOptions): boolean {
  const c = capturedInboundPorts(o);
  return c === '*' || !c.isEmpty;
}

/** Whether capture rules on OUTPUT (TPROXY fallback, or nat REDIRECT in redirect mode) are installed. */
export function outputCaptureActive(o: CaptureOptions): boolean {
  if (o.outbound !== 'tproxy' && o.outbound !== 'hook+tproxy') return false;
  const cidrs = o.includeOutboundCidrs;
  return cidrs === '*' || cidrs.length > 0 || !o.includeOutboundPorts.isEmpty;
}

export function hookActive(o: CaptureOptions): boolean {
  return o.outbound === 'hook' || o.outbound === 'hook+tproxy';
}
