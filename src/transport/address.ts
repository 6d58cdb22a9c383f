/**
 * Address kinds of a proxied connection. An original destination, a downstream client and an upstream endpoint
 * are distinct types (linkerd2-proxy's habit), so one can never be passed where another is expected.
 */
import net from 'node:net';

export type Family = 4 | 6;

export interface SocketAddress {
  readonly address: string;
  readonly port: number;
  readonly family: Family;
}

declare const kind: unique symbol;
type Kinded<K extends string> = SocketAddress & { readonly [kind]: K };

/** Where the workload meant to connect (TPROXY local address, PROXY v2 header, or SO_ORIGINAL_DST). */
export type OrigDstAddr = Kinded<'OrigDst'>;
/** The downstream peer as the proxy sees it (for hooked connections: the app socket's address from the header). */
export type ClientAddr = Kinded<'Client'>;
/** An upstream endpoint chosen by load balancing. */
export type EndpointAddr = Kinded<'Endpoint'>;

function make<K extends string>(address: string, port: number): Kinded<K> {
  const normalised = normaliseAddress(address);
  // The callers hand over IP addresses (from sockets, the PROXY codec, validated configuration): a colon is what
  // tells v6 from v4, no need for net.isIPv4's regular expression on every connection.
  const family: Family = normalised.includes(':') ? 6 : 4;
  return { address: normalised, port, family } as Kinded<K>;
}

export const origDst = (address: string, port: number): OrigDstAddr => make<'OrigDst'>(address, port);
export const clientAddr = (address: string, port: number): ClientAddr => make<'Client'>(address, port);
export const endpointAddr = (address: string, port: number): EndpointAddr => make<'Endpoint'>(address, port);

/** Turns `::ffff:a.b.c.d` into `a.b.c.d`, so v4 flows on dual-stack sockets compare equal to v4 addresses. */
export function normaliseAddress(address: string): string {
  if (address.startsWith('::ffff:') && net.isIPv4(address.slice(7))) return address.slice(7);
  return address;
}

export function isLoopback(address: string): boolean {
  const a = normaliseAddress(address);
  return a.startsWith('127.') || a === '::1';
}

/** `host:port` with IPv6 bracketed, as access logs and Envoy print it. */
export function formatAddress(a: SocketAddress): string {
  return a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export function familyOf(address: string): Family | undefined {
  const v = net.isIP(normaliseAddress(address));
  return v === 4 ? 4 : v === 6 ? 6 : undefined;
}
