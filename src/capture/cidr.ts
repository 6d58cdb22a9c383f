/**
 * IPv4 and IPv6 CIDR blocks as validated, normalised values (host bits cleared, canonical text), so an address
 * that reaches rule text has been parsed by us first and can never carry rule syntax.
 */
import net from 'node:net';

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
  const bytes = family === 4 ? v4Bytes(addr) : v6Bytes(addr);
  for (let bit = prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { family, address: family === 4 ? bytes.join('.') : formatV6(bytes), prefix };
}

export function isCidr(v: Cidr | { error: string }): v is Cidr {
  return (v as Cidr).family !== undefined;
}

function v4Bytes(addr: string): number[] {
  return addr.split('.').map(Number);
}

function v6Bytes(addr: string): number[] {
  let text = addr;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4Bytes(v4[1]!);
    text = text.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const bytes: number[] = [];
  for (const g of groups) {
    const n = Number.parseInt(g, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  return bytes;
}

/** RFC 5952 text: lowercase, leading zeros dropped, the longest run (>1) of zero groups as `::`. */
function formatV6(bytes: readonly number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
