/**
 * Turns the text of `sidelane init` / `cleanup` flags into validated CaptureOptions. Every value is parsed into a
 * typed number, port set, CIDR or checked interface name before any rule is built, and a bad one becomes a
 * UsageError naming the flag, the value and what was expected (exit 2, namespace untouched).
 */
import { UsageError } from '../errors';
import { formatCidr, isCidr, parseCidr, type Cidr } from './cidr';
import {
  BACKEND_CHOICES,
  CAPTURE_MODES,
  DEFAULT_OPTIONS,
  OUTBOUND_CAPTURES,
  type BackendChoice,
  type CaptureMode,
  type CaptureOptions,
  type OutboundCapture,
  type Wildcard,
} from './options';
import { PortSet, type PortRange } from './port-set';

/** Flag values as commander hands them over (strings, booleans for the --no-* switches). */
export interface CaptureFlags {
  readonly mode?: string;
  readonly outbound?: string;
  readonly inboundPort?: string;
  readonly outboundPort?: string;
  readonly includeInboundPorts?: string;
  readonly excludeInboundPorts?: string;
  readonly includeOutboundCidrs?: string;
  readonly excludeOutboundCidrs?: string;
  readonly includeOutboundPorts?: string;
  readonly excludeOutboundPorts?: string;
  readonly excludeInterfaces?: string;
  readonly mark?: string;
  readonly bypassMark?: string;
  readonly routeTable?: string;
  readonly proxyUid?: string;
  readonly proxyGid?: string;
  readonly backend?: string;
  readonly preserveSource?: boolean;
  readonly notrack?: boolean;
  readonly ipv6?: boolean;
}

/** Shows a user value inside a one-line message: quoted, control characters escaped. */
export function shown(value: string): string {
  const escaped = value.replace(/[\\']/g, (c) => `\\${c}`).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `'${escaped.length > 80 ? `${escaped.slice(0, 80)}…` : escaped}'`;
}

function bad(flag: string, value: string, expected: string): UsageError {
  return new UsageError(`${flag}: expected ${expected}, got ${shown(value)}`, { flag, value });
}

export function parsePortFlag(flag: string, value: string): number {
  if (!/^\d{1,5}$/.test(value) || /^0\d/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw bad(flag, value, 'a port number 1-65535');
  }
  return Number(value);
}

const PORT_LIST = 'a comma-separated list of ports 1-65535 or ranges (e.g. 22,8000-8100)';

/** `22,8000-8100` (iptables' `8000:8100` is accepted too); the empty string is the empty set. */
export function parsePortList(flag: string, value: string, allowWildcard = false): PortSet | Wildcard {
  const text = value.trim();
  if (allowWildcard && text === '*') return '*';
  if (text === '') return PortSet.EMPTY;
  const expected = allowWildcard ? `'*' or ${PORT_LIST}` : PORT_LIST;
  const items: PortRange[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const m = /^(\d{1,5})(?:[-:](\d{1,5}))?$/.exec(item);
    if (!m) throw bad(flag, value, expected);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from < 1 || to > 65535 || from > to || /^0\d/.test(m[1]!) || (m[2] !== undefined && /^0\d/.test(m[2]))) {
      throw bad(flag, value, expected);
    }
    items.push({ from, to });
  }
  return PortSet.of(items);
}

function portSetOnly(flag: string, value: string): PortSet {
  const v = parsePortList(flag, value);
  if (v === '*') throw bad(flag, value, PORT_LIST);
  return v;
}

/** `10.0.0.0/8,2001:db8::/32`; a bare address is a host; the empty string is the empty list. */
export function parseCidrList(flag: string, value: string, allowWildcard = false): readonly Cidr[] | Wildcard {
  const text = value.trim();
  if (allowWildcard && text === '*') return '*';
  if (text === '') return [];
  const out: Cidr[] = [];
  for (const raw of text.split(',')) {
    const c = parseCidr(raw.trim());
    if (!isCidr(c)) throw bad(flag, value, `${allowWildcard ? "'*' or " : ''}a comma-separated list of ${c.error}`);
    if (!out.some((o) => formatCidr(o) === formatCidr(c))) out.push(c);
  }
  return out;
}

/** Decimal or 0x-hex, non-zero, 32 bits. */
export function parseMarkFlag(flag: string, value: string): number {
  const n = /^0x[0-9a-f]{1,8}$/i.test(value) ? Number.parseInt(value.slice(2), 16) : /^[1-9]\d{0,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) throw bad(flag, value, 'a non-zero 32-bit mark (decimal or 0x-hex)');
  return n;
}

const RESERVED_TABLES: Readonly<Record<number, string>> = { 253: 'default', 254: 'main', 255: 'local' };

export function parseRouteTable(flag: string, value: string): number {
  const n = /^[1-9]\d{0,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n > 0xffffffff || RESERVED_TABLES[n] !== undefined) {
    throw bad(flag, value, 'a routing table number 1-4294967295 other than 253 (default), 254 (main) and 255 (local)');
  }
  return n;
}

/**
 * Interface names as the kernel allows them (1-15 characters, no '/', ':' or spaces), restricted further to
 * [A-Za-z0-9_.-] so nothing can leak into rule text; a trailing '+' is iptables' prefix wildcard (nft '*').
 */
export function isInterfaceName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,15}\+?$/.test(name) && name !== '.' && name !== '..';
}

export function parseInterfaceList(flag: string, value: string): readonly string[] {
  const text = value.trim();
  if (text === '') return [];
  const out: string[] = [];
  for (const raw of text.split(',')) {
    const name = raw.trim();
    if (!isInterfaceName(name)) {
      throw bad(flag, value, 'a comma-separated list of interface names (1-15 of A-Z a-z 0-9 _ . -, optionally ending in + for a prefix)');
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** Numeric user or group ids, comma-separated (Istio's `-u`/`-g`); the empty string is none. */
export function parseIdList(flag: string, value: string, what: 'user' | 'group'): readonly number[] {
  const text = value.trim();
  if (text === '') return [];
  const out: number[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (!/^(0|[1-9]\d{0,9})$/.test(item) || Number(item) > 4294967294) {
      throw bad(flag, value, `a comma-separated list of numeric ${what} ids 0-4294967294`);
    }
    if (!out.includes(Number(item))) out.push(Number(item));
  }
  return out;
}

export function parseChoiceFlag<T extends string>(flag: string, value: string, choices: readonly T[], caseInsensitive = false): T {
  const v = caseInsensitive ? value.toLowerCase() : value;
  if (!(choices as readonly string[]).includes(v)) throw bad(flag, value, `one of ${choices.join(', ')}`);
  return v as T;
}

/** Validates every flag (all of them, before anything is applied) and returns the options. */
export function captureOptionsFromFlags(flags: CaptureFlags): CaptureOptions {
  const d = DEFAULT_OPTIONS;
  const pick = <T>(value: string | undefined, parse: (v: string) => T, fallback: T): T => (value === undefined ? fallback : parse(value));
  const options: CaptureOptions = {
    mode: pick<CaptureMode>(flags.mode, (v) => parseChoiceFlag('--mode', v, CAPTURE_MODES, true), d.mode),
    outbound: pick<OutboundCapture>(flags.outbound, (v) => parseChoiceFlag('--outbound', v, OUTBOUND_CAPTURES), d.outbound),
    inboundPort: pick(flags.inboundPort, (v) => parsePortFlag('--inbound-port', v), d.inboundPort),
    outboundPort: pick(flags.outboundPort, (v) => parsePortFlag('--outbound-port', v), d.outboundPort),
    includeInboundPorts: pick(flags.includeInboundPorts, (v) => parsePortList('--include-inbound-ports', v, true), d.includeInboundPorts),
    excludeInboundPorts: pick(flags.excludeInboundPorts, (v) => portSetOnly('--exclude-inbound-ports', v), d.excludeInboundPorts),
    includeOutboundCidrs: pick(flags.includeOutboundCidrs, (v) => parseCidrList('--include-outbound-cidrs', v, true), d.includeOutboundCidrs),
    excludeOutboundCidrs: pick(
      flags.excludeOutboundCidrs,
      (v) => parseCidrList('--exclude-outbound-cidrs', v) as readonly Cidr[],
      d.excludeOutboundCidrs,
    ),
    includeOutboundPorts: pick(flags.includeOutboundPorts, (v) => portSetOnly('--include-outbound-ports', v), d.includeOutboundPorts),
    excludeOutboundPorts: pick(flags.excludeOutboundPorts, (v) => portSetOnly('--exclude-outbound-ports', v), d.excludeOutboundPorts),
    excludeInterfaces: pick(flags.excludeInterfaces, (v) => parseInterfaceList('--exclude-interfaces', v), d.excludeInterfaces),
    mark: pick(flags.mark, (v) => parseMarkFlag('--mark', v), d.mark),
    bypassMark: pick(flags.bypassMark, (v) => parseMarkFlag('--bypass-mark', v), d.bypassMark),
    routeTable: pick(flags.routeTable, (v) => parseRouteTable('--route-table', v), d.routeTable),
    proxyUids: pick(flags.proxyUid, (v) => parseIdList('--proxy-uid', v, 'user'), d.proxyUids),
    proxyGids: pick(flags.proxyGid, (v) => parseIdList('--proxy-gid', v, 'group'), d.proxyGids),
    backend: pick<BackendChoice>(flags.backend, (v) => parseChoiceFlag('--backend', v, BACKEND_CHOICES), d.backend),
    preserveSource: flags.preserveSource ?? d.preserveSource,
    notrack: flags.notrack ?? d.notrack,
    ipv6: flags.ipv6 ?? d.ipv6,
  };
  if (options.mark === options.bypassMark) {
    throw new UsageError(`--mark and --bypass-mark: expected two different marks, got ${hex(options.mark)} for both`);
  }
  if (options.inboundPort === options.outboundPort) {
    throw new UsageError(`--inbound-port and --outbound-port: expected two different ports, got ${options.inboundPort} for both`);
  }
  return options;
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
