/**
 * The iptables backend: reads the namespace with `iptables-save` (legacy or nf_tables flavour, per family), computes
 * one `iptables-restore --noflush` payload per family that replaces sidelane's chains and jumps (or removes them),
 * and applies it through the CommandRunner — one atomic commit per family.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { CommandRunner } from '../netns/command';
import type { Family } from './cidr';
import { renderIptablesPayload, type ObservedFootprint, type ObservedTable } from './iptables-render';
import { CHAIN_PREFIX, type Ruleset, type Table } from './ruleset';

export type IptablesFlavour = 'legacy' | 'nft';

const BUILTIN_CHAINS = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

/** Binary names: `iptables-legacy-save`, `ip6tables-nft-restore`, … */
export function iptablesBinary(flavour: IptablesFlavour, family: Family, tool: 'save' | 'restore'): string {
  return `${family === 4 ? 'iptables' : 'ip6tables'}-${flavour}-${tool}`;
}

/** Finds a program on PATH (sbin directories included, as root's PATH has them). */
export function onPath(name: string): boolean {
  const dirs = new Set([...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  return [...dirs].some((d) => d && existsSync(path.join(d, name)));
}

export interface SavedTable {
  /** chain → policy (`-` for user chains). */
  readonly chains: Map<string, string>;
  /** `-A CHAIN ...` lines in order (counters stripped). */
  readonly rules: string[];
  /** Counters per rule line when saved with -c: [packets, bytes]. */
  readonly counters: [number, number][];
}

/** Parses `iptables-save [-c]` output. */
export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let current: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      current = { chains: new Map(), rules: [], counters: [] };
      tables.set(line.slice(1), current);
    } else if (!current || line === '' || line.startsWith('#')) {
      continue;
    } else if (line === 'COMMIT') {
      current = undefined;
    } else if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      current.chains.set(name!, policy ?? '-');
    } else {
      const m = /^\[(\d+):(\d+)\]\s+(-A .*)$/.exec(line);
      if (m) {
        current.rules.push(m[3]!);
        current.counters.push([Number(m[1]), Number(m[2])]);
      } else if (line.startsWith('-A ')) {
        current.rules.push(line);
        current.counters.push([0, 0]);
      }
    }
  }
  return tables;
}

function ruleChain(rule: string): string {
  return rule.split(/\s+/)[1] ?? '';
}

function ruleTarget(rule: string): string | undefined {
  const m = /\s-[jg]\s+(\S+)/.exec(rule);
  return m?.[1];
}

const isOurs = (chain: string): boolean => chain.startsWith(CHAIN_PREFIX);

/** sidelane's chains and the jumps into them, per table. */
export function footprintOf(saved: Map<string, SavedTable>): ObservedFootprint {
  const out = new Map<Table, ObservedTable>();
  for (const [name, table] of saved) {
    if (name !== 'raw' && name !== 'mangle' && name !== 'nat') continue;
    const chains = [...table.chains.keys()].filter(isOurs);
    const jumps = table.rules.filter((r) => !isOurs(ruleChain(r)) && isOurs(ruleTarget(r) ?? ''));
    if (chains.length || jumps.length) out.set(name, { chains, jumps });
  }
  return out;
}

export function footprintSize(f: ObservedFootprint): number {
  let n = 0;
  for (const t of f.values()) n += t.chains.length + t.jumps.length;
  return n;
}

/** True when anything other than sidelane lives in these tables: rules, user chains, or a non-ACCEPT policy. */
export function hasForeignRules(saved: Map<string, SavedTable>): boolean {
  for (const table of saved.values()) {
    for (const [chain, policy] of table.chains) {
      if (isOurs(chain)) continue;
      if (!BUILTIN_CHAINS.has(chain) || (policy !== 'ACCEPT' && policy !== '-')) return true;
    }
    if (table.rules.some((r) => !isOurs(ruleChain(r)) && !isOurs(ruleTarget(r) ?? ''))) return true;
  }
  return false;
}

export interface IptablesView {
  readonly flavour: IptablesFlavour;
  readonly family: Family;
  /** False when the binaries are missing or the family cannot be read (IPv6 disabled). */
  readonly readable: boolean;
  readonly saved: Map<string, SavedTable>;
}

/** Reads one flavour × family with `-save` (which never instantiates a table). */
export async function readIptables(runner: CommandRunner, flavour: IptablesFlavour, family: Family, counters = false): Promise<IptablesView> {
  const save = iptablesBinary(flavour, family, 'save');
  try {
    // A missing binary makes the runner reject: that flavour is simply not readable here.
    const r = await runner.run(save, counters ? ['-c'] : [], { allowFailure: true, timeoutMs: 30_000 });
    if (r.code !== 0) return { flavour, family, readable: false, saved: new Map() };
    return { flavour, family, readable: true, saved: parseSave(r.stdout) };
  } catch {
    return { flavour, family, readable: false, saved: new Map() };
  }
}

export interface IptablesChange {
  readonly flavour: IptablesFlavour;
  readonly family: Family;
  readonly command: string;
  readonly payload: string;
}

/**
 * The payloads that make one flavour hold exactly `ruleset` (or nothing of sidelane's when it is undefined):
 * one per family that has something to add or remove.
 */
export async function planIptables(runner: CommandRunner, flavour: IptablesFlavour, ruleset: Ruleset | undefined): Promise<IptablesChange[]> {
  const changes: IptablesChange[] = [];
  for (const family of [4, 6] as const) {
    const wanted = ruleset && ruleset.families.includes(family) ? ruleset : undefined;
    const view = await readIptables(runner, flavour, family);
    if (!view.readable && !wanted) continue;
    const payload = renderIptablesPayload(wanted, family, footprintOf(view.saved));
    if (payload) changes.push({ flavour, family, command: iptablesBinary(flavour, family, 'restore'), payload });
  }
  return changes;
}

export async function applyIptables(runner: CommandRunner, changes: readonly IptablesChange[]): Promise<void> {
  for (const c of changes) {
    // --wait: legacy iptables takes the xtables lock; another writer (a CNI) must not make init fail.
    const args = c.flavour === 'legacy' ? ['--noflush', '--wait=30'] : ['--noflush'];
    await runner.run(c.command, args, { input: c.payload, timeoutMs: 60_000 });
  }
}
