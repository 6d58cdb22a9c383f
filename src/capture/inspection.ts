/**
 * What `sidelane capture show` reports: sidelane's installed rules in every backend with their packet and byte
 * counters and the reason each exists (its comment), plus sidelane's policy routes. Read-only.
 */
import type { CommandRunner } from '../netns/command';
import type { Backend } from './backend-detection';
import type { IptablesFlavour } from './iptables-backend';
import { listSidelaneTable, type NftRunner } from './nft-backend';
import { installedRoutes, installedRules } from './policy-routes';
import { CHAIN_PREFIX } from './ruleset';

export interface InstalledRule {
  readonly backend: Backend;
  readonly family: 'ipv4' | 'ipv6' | 'inet';
  readonly table: string;
  readonly chain: string;
  readonly packets: number;
  readonly bytes: number;
  readonly rule: string;
  readonly reason: string;
}

export interface CaptureView {
  readonly installed: boolean;
  readonly rules: readonly InstalledRule[];
  readonly routes: readonly string[];
}

const COMMENT = /\s*-m comment --comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/;

/** Parses `iptables-save -c` rows of sidelane's chains and of the jumps into them. */
export function iptablesRows(saveText: string, backend: Backend, family: 'ipv4' | 'ipv6'): InstalledRule[] {
  const rows: InstalledRule[] = [];
  let table = '';
  for (const raw of saveText.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) table = line.slice(1);
    const m = /^\[(\d+):(\d+)\]\s+-A\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, packets, bytes, chain, spec] = m as unknown as [string, string, string, string, string];
    const target = /-[jg]\s+(\S+)/.exec(spec)?.[1] ?? '';
    if (!chain.startsWith(CHAIN_PREFIX) && !target.startsWith(CHAIN_PREFIX)) continue;
    const c = COMMENT.exec(spec);
    rows.push({
      backend,
      family,
      table,
      chain,
      packets: Number(packets),
      bytes: Number(bytes),
      rule: spec.replace(COMMENT, '').trim(),
      reason: c ? (c[1] ?? c[2] ?? '').replace(/\\"/g, '"') : '',
    });
  }
  return rows;
}

const TABLE_OF_CHAIN: Readonly<Record<string, string>> = {
  raw_prerouting: 'raw',
  raw_output: 'raw',
  raw_outbound: 'raw',
  inbound: 'nat',
  in_redirect: 'nat',
  redirect_outbound: 'nat',
};

/** Parses `nft list table inet sidelane` (rules carry `counter packets N bytes M` and a comment). */
export function nftRows(listing: string): InstalledRule[] {
  const rows: InstalledRule[] = [];
  let chain = '';
  let chainType = '';
  const pending: InstalledRule[] = [];
  const flush = (): void => {
    for (const r of pending) rows.push({ ...r, table: chainType === 'nat' ? 'nat' : TABLE_OF_CHAIN[chain] ?? (chain.startsWith('raw_') ? 'raw' : 'mangle') });
    pending.length = 0;
  };
  for (const raw of listing.split('\n')) {
    const line = raw.trim();
    const c = /^chain (\S+) \{$/.exec(line);
    if (c) {
      flush();
      chain = c[1]!;
      chainType = '';
      continue;
    }
    const t = /^type (\w+) hook/.exec(line);
    if (t) {
      chainType = t[1]!;
      continue;
    }
    const m = /^(.*?)\s*counter packets (\d+) bytes (\d+)\s*(.*?)(?:\s*comment "((?:[^"\\]|\\.)*)")?$/.exec(line);
    if (!m || !chain) continue;
    pending.push({
      backend: 'nft',
      family: 'inet',
      table: '',
      chain,
      packets: Number(m[2]),
      bytes: Number(m[3]),
      rule: `${m[1]} ${m[4]}`.trim(),
      reason: m[5] ?? '',
    });
  }
  flush();
  return rows;
}

export async function inspectCapture(runner: CommandRunner, nft: NftRunner): Promise<CaptureView> {
  const rules: InstalledRule[] = [];
  const listing = listSidelaneTable(nft);
  if (listing) rules.push(...nftRows(listing));
  for (const flavour of ['legacy', 'nft'] as IptablesFlavour[]) {
    for (const family of [4, 6] as const) {
      const r = await runner.run(`${family === 4 ? 'iptables' : 'ip6tables'}-${flavour}-save`, ['-c'], { allowFailure: true }).catch(() => undefined);
      if (!r || r.code !== 0) continue;
      rules.push(...iptablesRows(r.stdout, flavour === 'legacy' ? 'iptables-legacy' : 'iptables-nft', family === 4 ? 'ipv4' : 'ipv6'));
    }
  }
  const routes: string[] = [];
  for (const family of [4, 6] as const) {
    for (const r of await installedRules(runner, family)) routes.push(`ip -${family} rule: fwmark 0x${r.fwmark.toString(16)} lookup ${r.table}`);
    for (const r of await installedRoutes(runner, family)) routes.push(`ip -${family} route: local default dev lo table ${r.table}`);
  }
  return { installed: rules.length > 0 || routes.length > 0, rules, routes };
}

