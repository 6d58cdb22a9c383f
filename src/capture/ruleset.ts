/**
 * The capture ruleset as data: tables, chains and rules with structured matches and actions, each rule carrying
 * the reason it exists. Builders (tproxy-ruleset.ts, redirect-ruleset.ts) produce it; renderers turn it into
 * iptables-restore payloads or one nft script, so the same decisions reach both backends.
 */
import type { Cidr, Family } from './cidr';
import type { CaptureMode } from './options';
import type { PortSet } from './port-set';

export type Table = 'mangle' | 'raw' | 'nat';
export type BuiltinChain = 'PREROUTING' | 'OUTPUT';

export type Match =
  | { readonly kind: 'tcp' }
  | { readonly kind: 'inInterface'; readonly name: string; readonly negate?: boolean }
  | { readonly kind: 'outInterface'; readonly name: string; readonly negate?: boolean }
  | { readonly kind: 'source'; readonly cidr: Cidr; readonly negate?: boolean }
  | { readonly kind: 'destination'; readonly cidr: Cidr; readonly negate?: boolean }
  | { readonly kind: 'destinationPort'; readonly ports: PortSet; readonly negate?: boolean }
  | { readonly kind: 'sourcePort'; readonly ports: PortSet; readonly negate?: boolean }
  /** The packet mark (full 32-bit value). */
  | { readonly kind: 'mark'; readonly value: number; readonly negate?: boolean }
  /** Not a connection-opening SYN (any of ACK, RST, FIN set, or SYN clear). */
  | { readonly kind: 'notSyn' }
  /** The packet belongs to a local socket with IP_TRANSPARENT (the proxy's). */
  | { readonly kind: 'transparentSocket' }
  /** The packet belongs to a local socket that is not a listener bound to the wildcard address. */
  | { readonly kind: 'localSocket' }
  /** The packet belongs to a local socket whose SO_MARK is this value. */
  | { readonly kind: 'socketMark'; readonly value: number }
  /** The sending socket's owner (locally generated packets only). */
  | { readonly kind: 'owner'; readonly uid?: number; readonly gid?: number; readonly negate?: boolean };

export type Action =
  | { readonly kind: 'jump'; readonly chain: string }
  | { readonly kind: 'goto'; readonly chain: string }
  | { readonly kind: 'return' }
  | { readonly kind: 'accept' }
  | { readonly kind: 'setMark'; readonly value: number }
  /** Hand the packet to a local transparent listener; dropped when none listens (iptables' TPROXY semantics). */
  | { readonly kind: 'tproxy'; readonly port: number; readonly mark: number }
  | { readonly kind: 'redirect'; readonly port: number }
  | { readonly kind: 'notrack' };

export interface Rule {
  readonly matches: readonly Match[];
  readonly action: Action;
  /** Why the rule exists: rendered as its comment, listed by `sidelane capture show`. */
  readonly reason: string;
  /** Only for this family (rules with addresses); undefined: both. */
  readonly family?: Family;
}

export interface ChainHook {
  readonly builtin: BuiltinChain;
  /** Istio jumps to its nat PREROUTING chain for TCP only (`-A PREROUTING -p tcp -j ISTIO_INBOUND`). */
  readonly tcpOnly?: boolean;
  readonly reason: string;
}

export interface Chain {
  /** Logical name: iptables `SIDELANE_<name>`, nft `<name in lower case>`. */
  readonly name: string;
  readonly table: Table;
  /** Set for the chains entered from a built-in hook (iptables: a jump from the built-in chain; nft: a base chain). */
  readonly hook?: ChainHook;
  readonly rules: readonly Rule[];
}

export interface Ruleset {
  readonly mode: CaptureMode;
  readonly families: readonly Family[];
  readonly chains: readonly Chain[];
}

export const CHAIN_PREFIX = 'SIDELANE_';
export const NFT_TABLE = 'sidelane';

export function iptablesChainName(name: string): string {
  return `${CHAIN_PREFIX}${name}`;
}

/** nft names are the lower-case logical names, except where that would be an nft keyword (`redirect`). */
const NFT_RESERVED: Readonly<Record<string, string>> = { REDIRECT: 'redirect_outbound' };

export function nftChainName(name: string): string {
  return NFT_RESERVED[name] ?? name.toLowerCase();
}

/** Tables the ruleset uses, in the order payloads list them. */
export function tablesOf(ruleset: Ruleset): Table[] {
  const order: Table[] = ['raw', 'mangle', 'nat'];
  return order.filter((t) => ruleset.chains.some((c) => c.table === t));
}

/** Checks the invariants renderers rely on; a violation is a bug in a builder, not a user error. */
export function assertWellFormed(ruleset: Ruleset): void {
  const names = new Set<string>();
  for (const chain of ruleset.chains) {
    if (names.has(nftChainName(chain.name))) throw new Error(`duplicate chain ${chain.name}`);
    names.add(nftChainName(chain.name));
    if (iptablesChainName(chain.name).length > 28) throw new Error(`chain name ${chain.name} too long for iptables`);
  }
  for (const chain of ruleset.chains) {
    for (const rule of chain.rules) {
      if (rule.reason.length > 120 || /["\\\n]/.test(rule.reason)) throw new Error(`reason of a rule in ${chain.name} is unfit for a comment: ${rule.reason}`);
      const a = rule.action;
      if ((a.kind === 'jump' || a.kind === 'goto') && !ruleset.chains.some((c) => c.name === a.chain && c.table === chain.table)) {
        throw new Error(`${chain.name} targets missing chain ${a.chain}`);
      }
      const needsTcp = rule.matches.some((m) => m.kind === 'destinationPort' || m.kind === 'sourcePort' || m.kind === 'notSyn');
      if (needsTcp) {
        const tcpAt = rule.matches.findIndex((m) => m.kind === 'tcp');
        const firstPort = rule.matches.findIndex((m) => m.kind === 'destinationPort' || m.kind === 'sourcePort' || m.kind === 'notSyn');
        if (tcpAt < 0 || tcpAt > firstPort) throw new Error(`a port match in ${chain.name} must follow a tcp match`);
      }
      const addressed = rule.matches.find((m) => m.kind === 'source' || m.kind === 'destination');
      if (addressed && (addressed.kind === 'source' || addressed.kind === 'destination') && rule.family !== addressed.cidr.family) {
        throw new Error(`a rule in ${chain.name} matching ${addressed.cidr.address} must be limited to IPv${addressed.cidr.family}`);
      }
    }
  }
}
