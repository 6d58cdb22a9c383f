/**
 * The connect() hook's environment (docs/hook.md): validates hook settings with the same grammar the C hook parses
 * (native/hook/hook_config.c) and renders them as SIDELANE_* variables plus an LD_PRELOAD that keeps what was there.
 * Pure: `sidelane exec` and the injector feed it flags; nothing here touches the process.
 */
import net from 'node:net';
import { UsageError } from '../errors';

export type ProxyDownPolicy = { readonly kind: 'wait'; readonly ms: number } | { readonly kind: 'open' } | { readonly kind: 'closed' };

export interface HookSettings {
  readonly outboundPort?: number;
  readonly excludeCidrs?: readonly string[];
  readonly excludePorts?: readonly string[];
  /** undefined or '*': every destination. */
  readonly includeCidrs?: readonly string[] | '*';
  readonly proxyPorts?: readonly string[];
  readonly onProxyDown?: ProxyDownPolicy;
  readonly log?: boolean;
}

export const HOOK_DEFAULTS = {
  outboundPort: 15001,
  proxyPorts: ['15000', '15001', '15006', '15008', '15020', '15021', '15090'],
  onProxyDown: { kind: 'wait', ms: 5000 } as ProxyDownPolicy,
  maxWaitMs: 600_000,
  maxCidrs: 64,
} as const;

/** Items of a comma list, trimmed of blanks; empty items are skipped (as the hook does). */
function items(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.replace(/^[ \t]+|[ \t]+$/g, ''))
    .filter((s) => s.length > 0);
}

function strictUint(text: string, max: number): number | undefined {
  if (!/^\d{1,7}$/.test(text)) return undefined;
  const v = Number.parseInt(text, 10);
  return v <= max ? v : undefined;
}

export function parsePort(text: string, flag: string): number {
  const v = strictUint(text.trim(), 65535);
  if (v === undefined || v === 0) throw new UsageError(`${flag}: expected a port 1-65535, got ${JSON.stringify(text)}`, { flag });
  return v;
}

/** "22,8000-8100" → ["22", "8000-8100"] after checking every port and range. */
export function parsePortList(text: string, flag: string): string[] {
  return items(text).map((item) => {
    const [lo, hi, extra] = item.split('-').map((s) => s.trim());
    const a = lo === undefined ? undefined : strictUint(lo, 65535);
    const b = hi === undefined ? a : strictUint(hi, 65535);
    if (extra !== undefined || a === undefined || a === 0 || b === undefined || b < a) {
      throw new UsageError(`${flag}: ${JSON.stringify(item)} is not a port 1-65535 or a range like 8000-8100`, { flag });
    }
    return hi === undefined ? String(a) : `${a}-${b}`;
  });
}

/** "10.0.0.0/8, fd00::/8" → ["10.0.0.0/8", "fd00::/8"] after checking each address and prefix length. */
export function parseCidrList(text: string, flag: string): string[] {
  const list = items(text).map((item) => {
    const [addr = '', prefix, extra] = item.split('/').map((s) => s.trim());
    const family = net.isIPv4(addr) ? 4 : net.isIPv6(addr) && !addr.includes('%') ? 6 : 0;
    const max = family === 4 ? 32 : 128;
    const bits = prefix === undefined ? max : strictUint(prefix, max);
    if (family === 0 || extra !== undefined || bits === undefined || item.length > 79) {
      throw new UsageError(`${flag}: ${JSON.stringify(item)} is not a CIDR like 10.0.0.0/8 or fd00::/8`, { flag });
    }
    return prefix === undefined ? addr : `${addr}/${bits}`;
  });
  if (list.length > HOOK_DEFAULTS.maxCidrs) {
    throw new UsageError(`${flag}: ${list.length} CIDRs, the hook takes at most ${HOOK_DEFAULTS.maxCidrs}`, { flag });
  }
  return list;
}

export function parseIncludeCidrs(text: string, flag: string): string[] | '*' {
  const t = text.trim();
  return t === '' || t === '*' ? '*' : parseCidrList(text, flag);
}

export function parseProxyDownPolicy(text: string, flag: string): ProxyDownPolicy {
  const t = text.trim();
  if (t === 'open' || t === 'closed') return { kind: t };
  if (t === 'wait') return HOOK_DEFAULTS.onProxyDown;
  const m = /^wait:(\d{1,7})$/.exec(t);
  const ms = m?.[1] === undefined ? undefined : strictUint(m[1], HOOK_DEFAULTS.maxWaitMs);
  if (ms === undefined) {
    throw new UsageError(`${flag}: expected wait:<ms> (0-${HOOK_DEFAULTS.maxWaitMs}), open or closed, got ${JSON.stringify(text)}`, { flag });
  }
  return { kind: 'wait', ms };
}

export function formatProxyDownPolicy(p: ProxyDownPolicy): string {
  return p.kind === 'wait' ? `wait:${p.ms}` : p.kind;
}

/** The SIDELANE_* variables for the settings given; unset settings are left to the hook's defaults. */
export function hookEnvironment(s: HookSettings): Record<string, string> {
  const env: Record<string, string> = {};
  if (s.outboundPort !== undefined) env.SIDELANE_OUTBOUND_PORT = String(s.outboundPort);
  if (s.excludeCidrs !== undefined) env.SIDELANE_EXCLUDE_CIDRS = s.excludeCidrs.join(',');
  if (s.excludePorts !== undefined) env.SIDELANE_EXCLUDE_PORTS = s.excludePorts.join(',');
  if (s.includeCidrs !== undefined) env.SIDELANE_INCLUDE_CIDRS = s.includeCidrs === '*' ? '*' : s.includeCidrs.join(',');
  if (s.proxyPorts !== undefined) env.SIDELANE_PROXY_PORTS = s.proxyPorts.join(',');
  if (s.onProxyDown !== undefined) env.SIDELANE_HOOK_ON_PROXY_DOWN = formatProxyDownPolicy(s.onProxyDown);
  if (s.log) env.SIDELANE_HOOK_LOG = '1';
  return env;
}

/**
 * LD_PRELOAD with the hook appended to whatever the environment already preloads (ld.so takes ':' or ' ' as
 * separators); not added twice. Appending keeps other interposers first, and ours calls on to them via RTLD_NEXT.
 */
export function withPreload(existing: string | undefined, library: string): string {
  const parts = (existing ?? '').split(/[: ]+/).filter((p) => p.length > 0);
  if (parts.includes(library)) return parts.join(':');
  return [...parts, library].join(':');
}
