/**
 * Renders a Ruleset into one nft script for `table inet sidelane` (pure). The script adds, deletes and recreates
 * the table in a single transaction, so applying it is atomic and re-applying converges; IPv4 and IPv6 share the
 * table, and when IPv6 capture is off every base chain first lets IPv6 packets go.
 */
import { formatCidr } from './cidr';
import type { PortSet } from './port-set';
import { NFT_TABLE, nftChainName, type Action, type Chain, type Match, type Rule, type Ruleset, type Table } from './ruleset';

function mark32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function portsText(ports: PortSet): string {
  const items = ports.ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`));
  return items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
}

/** iptables' prefix wildcard `eth+` is nft's `eth*`. */
function ifaceName(name: string): string {
  return `"${name.endsWith('+') ? `${name.slice(0, -1)}*` : name}"`;
}

function matchText(m: Match, hasTcpExpression: boolean): string | undefined {
  const op = 'negate' in m && m.negate ? '!= ' : '';
  switch (m.kind) {
    case 'tcp':
      // `tcp dport` and `tcp flags` already imply the protocol.
      return hasTcpExpression ? undefined : 'meta l4proto tcp';
    case 'inInterface':
      return `iifname ${op}${ifaceName(m.name)}`;
    case 'outInterface':
      return `oifname ${op}${ifaceName(m.name)}`;
    case 'source':
      return `${m.cidr.family === 4 ? 'ip' : 'ip6'} saddr ${op}${formatCidr(m.cidr)}`;
    case 'destination':
      return `${m.cidr.family === 4 ? 'ip' : 'ip6'} daddr ${op}${formatCidr(m.cidr)}`;
    case 'destinationPort':
      return `tcp dport ${op}${portsText(m.ports)}`;
    case 'sourcePort':
      return `tcp sport ${op}${portsText(m.ports)}`;
    case 'mark':
      return `meta mark ${op}${mark32(m.value)}`;
    case 'notSyn':
      return 'tcp flags & (fin | syn | rst | ack) != syn';
    case 'transparentSocket':
      return 'socket transparent 1';
    case 'localSocket':
      // Like xt_socket without --nowildcard: a listener on the wildcard address does not count.
      return 'socket wildcard 0';
    case 'socketMark':
      return `socket mark ${mark32(m.value)}`;
    case 'owner':
      return m.uid !== undefined ? `meta skuid ${op}${m.uid}` : `meta skgid ${op}${m.gid}`;
  }
}

function actionText(a: Action): string {
  switch (a.kind) {
    case 'jump':
      return `jump ${nftChainName(a.chain)}`;
    case 'goto':
      return `goto ${nftChainName(a.chain)}`;
    case 'return':
      return 'return';
    case 'accept':
      return 'accept';
    case 'setMark':
      return `meta mark set ${mark32(a.value)}`;
    case 'tproxy':
      return `tproxy to :${a.port} meta mark set ${mark32(a.mark)} accept`;
    case 'redirect':
      return `redirect to :${a.port}`;
    case 'notrack':
      return 'notrack';
  }
}

function quote(reason: string): string {
  return `comment "${reason}"`;
}

export function nftRuleLines(rule: Rule): string[] {
  const hasTcpExpression = rule.matches.some((m) => m.kind === 'destinationPort' || m.kind === 'sourcePort' || m.kind === 'notSyn');
  const matches = rule.matches.map((m) => matchText(m, hasTcpExpression)).filter((t): t is string => t !== undefined);
  const line = (action: string, reason: string): string => [...matches, 'counter', action, quote(reason)].join(' ');
  const lines = [line(actionText(rule.action), rule.reason)];
  if (rule.action.kind === 'tproxy') {
    // nft's tproxy falls through when no transparent socket listens; the iptables TPROXY target drops. Keep the
    // iptables behaviour: the client's SYN is retried until the proxy listens, never delivered around it.
    lines.push(line('drop', `no transparent listener on :${rule.action.port} yet: drop like the iptables TPROXY target`));
  }
  return lines;
}

const BASE_CHAIN: Readonly<Record<Table, Readonly<Record<'PREROUTING' | 'OUTPUT', string>>>> = {
  mangle: {
    PREROUTING: 'type filter hook prerouting priority mangle; policy accept;',
    // A route chain re-routes a packet whose mark changed: what sends marked packets over lo.
    OUTPUT: 'type route hook output priority mangle; policy accept;',
  },
  raw: {
    PREROUTING: 'type filter hook prerouting priority raw; policy accept;',
    OUTPUT: 'type filter hook output priority raw; policy accept;',
  },
  nat: {
    PREROUTING: 'type nat hook prerouting priority dstnat; policy accept;',
    OUTPUT: 'type nat hook output priority -100; policy accept;',
  },
};

function chainBlock(chain: Chain, ipv6: boolean): string[] {
  const lines = [`\tchain ${nftChainName(chain.name)} {`];
  if (chain.hook) {
    lines.push(`\t\t${BASE_CHAIN[chain.table][chain.hook.builtin]}`);
    lines.push(`\t\tcomment "${chain.hook.reason}"`);
    if (!ipv6) lines.push(`\t\tmeta nfproto ipv6 counter return ${quote('IPv6 capture is off: IPv6 packets are left alone')}`);
  }
  for (const rule of chain.rules) for (const l of nftRuleLines(rule)) lines.push(`\t\t${l}`);
  lines.push('\t}');
  return lines;
}

/** The `table inet sidelane { ... }` definition. */
export function renderNftTable(ruleset: Ruleset): string {
  const ipv6 = ruleset.families.includes(6);
  const lines = [`table inet ${NFT_TABLE} {`, `\tcomment "sidelane capture (${ruleset.mode}); remove with sidelane cleanup"`];
  for (const chain of ruleset.chains) lines.push(...chainBlock(chain, ipv6));
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** The whole transaction: make sure the table exists, delete it, define it again (atomic replace). */
export function renderNftScript(ruleset: Ruleset): string {
  return `add table inet ${NFT_TABLE}\ndelete table inet ${NFT_TABLE}\n${renderNftTable(ruleset)}`;
}

/** The cleanup transaction (only run when the table exists). */
export function renderNftDelete(): string {
  return `delete table inet ${NFT_TABLE}\n`;
}
