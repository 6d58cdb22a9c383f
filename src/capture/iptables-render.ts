/**
 * Renders a Ruleset into one `iptables-restore --noflush` payload per family (pure). Declaring a chain with
 * `:NAME - [0:0]` under --noflush creates it or flushes it, so re-applying converges; stale jumps and chains seen in
 * the namespace are deleted in the same payload, which the kernel commits atomically per table.
 */
import { formatCidr, type Family } from './cidr';
import { hex } from './validation';
import type { PortSet } from './port-set';
import { iptablesChainName, tablesOf, type Action, type Chain, type Match, type Rule, type Ruleset, type Table } from './ruleset';

/** Sidelane's footprint in one table as `iptables-save` shows it (what a re-run or cleanup must remove). */
export interface ObservedTable {
  /** SIDELANE_* chains present. */
  readonly chains: readonly string[];
  /** Save-format `-A CHAIN ...` lines of other chains that jump to a SIDELANE_* chain. */
  readonly jumps: readonly string[];
}

export type ObservedFootprint = ReadonlyMap<Table, ObservedTable>;

/** multiport takes at most 15 ports, a range counting as two. */
const MULTIPORT_SLOTS = 15;

function portChunks(ports: PortSet): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let used = 0;
  for (const r of ports.ranges) {
    const cost = r.from === r.to ? 1 : 2;
    if (used + cost > MULTIPORT_SLOTS) {
      chunks.push(current);
      current = [];
      used = 0;
    }
    current.push(r.from === r.to ? `${r.from}` : `${r.from}:${r.to}`);
    used += cost;
  }
  if (current.length) chunks.push(current);
  return chunks;
}

/** One port (or one range) uses the tcp match like Istio (`--dport 15008`); more use multiport. */
function portMatch(direction: 'd' | 's', ports: PortSet, negate: boolean): string[] {
  const not = negate ? '! ' : '';
  if (ports.ranges.length === 1) {
    const r = ports.ranges[0]!;
    return [`${not}--${direction}port ${r.from === r.to ? r.from : `${r.from}:${r.to}`}`];
  }
  const chunks = portChunks(ports);
  if (negate) return [chunks.map((c) => `-m multiport ! --${direction}ports ${c.join(',')}`).join(' ')];
  return chunks.map((c) => `-m multiport --${direction}ports ${c.join(',')}`);
}

/** The alternatives a match expands to: several only for a positive port set too large for one multiport. */
function matchText(m: Match): string[] {
  const not = 'negate' in m && m.negate ? '! ' : '';
  switch (m.kind) {
    case 'tcp':
      return ['-p tcp'];
    case 'inInterface':
      return [`${not}-i ${m.name}`];
    case 'outInterface':
      return [`${not}-o ${m.name}`];
    case 'source':
      return [`${not}-s ${formatCidr(m.cidr)}`];
    case 'destination':
      return [`${not}-d ${formatCidr(m.cidr)}`];
    case 'destinationPort':
      return portMatch('d', m.ports, m.negate ?? false);
    case 'sourcePort':
      return portMatch('s', m.ports, m.negate ?? false);
    case 'mark':
      return [`-m mark ${not}--mark ${hex(m.value)}`];
    case 'notSyn':
      return ['! --syn'];
    case 'transparentSocket':
      return ['-m socket --transparent'];
    case 'localSocket':
      return ['-m socket'];
    case 'socketMark':
      // xt_socket cannot compare the socket's mark; it copies it onto the packet, then the mark match reads it.
      return [`-m socket --restore-skmark -m mark --mark ${hex(m.value)}`];
    case 'owner':
      return [m.uid !== undefined ? `-m owner ${not}--uid-owner ${m.uid}` : `-m owner ${not}--gid-owner ${m.gid}`];
  }
}

function actionText(a: Action): string {
  switch (a.kind) {
    case 'jump':
      return `-j ${iptablesChainName(a.chain)}`;
    case 'goto':
      return `-g ${iptablesChainName(a.chain)}`;
    case 'return':
      return '-j RETURN';
    case 'accept':
      return '-j ACCEPT';
    case 'setMark':
      return `-j MARK --set-mark ${hex(a.value)}`;
    case 'tproxy':
      return `-j TPROXY --on-port ${a.port} --tproxy-mark ${hex(a.mark)}/0xffffffff`;
    case 'redirect':
      return `-j REDIRECT --to-ports ${a.port}`;
    case 'notrack':
      return '-j CT --notrack';
  }
}

export function comment(reason: string): string {
  return `-m comment --comment "${reason}"`;
}

/** The `-A` lines of one rule (usually one; more when a positive port set needs several multiport matches). */
export function ruleLines(chainName: string, rule: Rule): string[] {
  let specs: string[][] = [[]];
  for (const m of rule.matches) {
    const alternatives = matchText(m);
    specs = specs.flatMap((spec) => alternatives.map((alt) => [...spec, alt]));
  }
  return specs.map((spec) => ['-A', chainName, ...spec, comment(rule.reason), actionText(rule.action)].join(' '));
}

function jumpLine(chain: Chain): string {
  const hook = chain.hook!;
  return ['-A', hook.builtin, ...(hook.tcpOnly ? ['-p tcp'] : []), comment(hook.reason), `-j ${iptablesChainName(chain.name)}`].join(' ');
}

function rulesFor(chain: Chain, family: Family): Rule[] {
  return chain.rules.filter((r) => r.family === undefined || r.family === family);
}

/**
 * The payload for one family. `observed` (from iptables-save) adds the deletions that make a re-run converge and a
 * cleanup complete; without it the payload is the one a clean namespace gets (the golden files).
 */
export function renderIptablesPayload(ruleset: Ruleset | undefined, family: Family, observed: ObservedFootprint = new Map()): string {
  const desired = ruleset && ruleset.families.includes(family) ? ruleset : undefined;
  const desiredTables = desired ? tablesOf(desired) : [];
  const tables = (['raw', 'mangle', 'nat'] as const).filter((t) => desiredTables.includes(t) || (observed.get(t)?.chains.length ?? 0) + (observed.get(t)?.jumps.length ?? 0) > 0);
  const out: string[] = [];
  for (const table of tables) {
    const chains = desired ? desired.chains.filter((c) => c.table === table) : [];
    const seen = observed.get(table) ?? { chains: [], jumps: [] };
    const wanted = new Set(chains.map((c) => iptablesChainName(c.name)));
    const stale = seen.chains.filter((c) => !wanted.has(c));
    out.push(`*${table}`);
    for (const c of chains) out.push(`:${iptablesChainName(c.name)} - [0:0]`);
    for (const j of seen.jumps) out.push(j.replace(/^-A /, '-D '));
    // A stale chain may still jump to another stale one: flush them all before deleting any.
    for (const c of stale) out.push(`-F ${c}`);
    for (const c of stale) out.push(`-X ${c}`);
    for (const c of chains) if (c.hook) out.push(jumpLine(c));
    for (const c of chains) for (const r of rulesFor(c, family)) out.push(...ruleLines(iptablesChainName(c.name), r));
    out.push('COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : '';
}
