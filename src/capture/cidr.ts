/**
 * IPv4 and IPv6 CIDR blocks as validated, normalised values (host bits cleared, canonical text), so an address
 * that reaches rule text has been parsed by us first and can never carry rule syntax.
 */
import net from 'node:net';
import { ipToOctets, octetsToIp } from '../transport/ip-octets';

export type Family = 4 | 6;

export interface Cidr {
  readonly family: Family;
  /** Canonical network address (host bits cleared). */
  readonly address: string;
  readonly prefix: number;
}

export function formatCidr(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

/**
 * Parses `a.b.c.d[/n]` or `x:y::z[/n]`; a bare address is a host route (/32, /128). Returns an error text naming
 * what was expected instead of throwing, so callers can build one clear usage line.
 */
export function parseCidr(text: string): Cidr | { error: string } {
  const m = /^([0-9A-Fa-f:.]+)(?:\/(\d{1,3}))?$/.exec(text);
  if (!m) return { error: 'an IPv4 or IPv6 address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)' };
  const addr = m[1]!;
  const family = net.isIPv4(addr) ? 4 : net.isIPv6(addr) ? 6 : undefined;
  if (!family) return { error: 'an IPv4 or IPv6 address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)' };
  const max = family === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (!Number.isInteger(prefix) || prefix > max || (m[2] !== undefined && /^0\d/.test(m[2]))) {
    return { error: `a prefix length 0-${max} for an IPv${family} address` };
  }
  const bytes = ipToOctets(addr)!;
  for (let bit = prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { family, address: octetsToIp(bytes), prefix };
}

export function isCidr(v: Cidr | { error: string }): v is Cidr {
  return (v as Cidr).family !== undefined;
}

