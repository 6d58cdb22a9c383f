/**
 * Reads the facts of the current network namespace that shape the ruleset: the ephemeral source-port range
 * (ip_local_port_range minus ip_local_reserved_ports), whether it has global IPv6 addresses, and its identity
 * (for the state file). File access is injected so tests can describe any namespace.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { SidelaneError } from '../errors';
import type { Family } from './cidr';
import type { CaptureEnvironment, CaptureOptions } from './options';
import { PortSet, type PortRange } from './port-set';

export interface NamespaceFiles {
  /** File contents, or undefined when the file does not exist. */
  read(path: string): string | undefined;
  /** The target of /proc/self/ns/net (`net:[4026532280]`). */
  netnsId(): string;
}

export const procFiles: NamespaceFiles = {
  read(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  netnsId() {
    return readlinkSync('/proc/self/ns/net');
  },
};

const PORT_RANGE = '/proc/sys/net/ipv4/ip_local_port_range';
const RESERVED = '/proc/sys/net/ipv4/ip_local_reserved_ports';
const IF_INET6 = '/proc/net/if_inet6';

/** `ip_local_port_range` minus `ip_local_reserved_ports` (ports the kernel never autobinds). */
export function ephemeralPorts(files: NamespaceFiles): PortSet {
  const text = files.read(PORT_RANGE);
  const m = text ? /^\s*(\d+)\s+(\d+)\s*$/.exec(text) : null;
  if (!m || Number(m[1]) < 1 || Number(m[2]) > 65535 || Number(m[1]) > Number(m[2])) {
    throw new SidelaneError('SIDELANE_ERR_CAPTURE_APPLY', `cannot read the ephemeral port range from ${PORT_RANGE} (got ${JSON.stringify(text ?? null)})`);
  }
  const range = PortSet.of([{ from: Number(m[1]), to: Number(m[2]) }]);
  return range.minus(reservedPorts(files.read(RESERVED) ?? ''));
}

function reservedPorts(text: string): PortSet {
  const items: PortRange[] = [];
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const from = Number(m[1]);
    const to = m[2] ? Number(m[2]) : from;
    if (from >= 1 && to <= 65535 && from <= to) items.push({ from, to });
  }
  return PortSet.of(items);
}

/** True when an interface of this namespace has an IPv6 address of global scope (scope field 00). */
export function hasGlobalIpv6(files: NamespaceFiles): boolean {
  const text = files.read(IF_INET6);
  if (!text) return false;
  return text.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return f.length >= 6 && f[3] === '00';
  });
}

export interface ResolvedEnvironment extends CaptureEnvironment {
  /** Why IPv6 is on or off, for the dry-run and init output. */
  readonly ipv6Reason: string;
}

export function resolveEnvironment(o: CaptureOptions, files: NamespaceFiles): ResolvedEnvironment {
  const ipv6 = o.ipv6 ?? hasGlobalIpv6(files);
  const ipv6Reason = o.ipv6 === undefined ? (ipv6 ? 'auto: the namespace has a global IPv6 address' : 'auto: no global IPv6 address') : o.ipv6 ? '--ipv6' : '--no-ipv6';
  const families: Family[] = ipv6 ? [4, 6] : [4];
  return { families, ephemeralPorts: ephemeralPorts(files), ipv6Reason };
}
