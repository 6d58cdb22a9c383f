/**
 * The nftables backend: applies the nft script in-process through libnftables (the addon's nftRun, one atomic
 * transaction), removes `table inet sidelane`, and takes inventories of the iptables-nft tables so cleanup can
 * also delete the empty tables and base chains that an iptables-nft install created.
 */
import { SidelaneError } from '../errors';
import type { NftResult } from '../native/addon';
import { renderNftDelete, renderNftScript } from './nft-render';
import { NFT_TABLE, type Ruleset } from './ruleset';

/** The slice of the addon this backend uses (injected: tests pass a recording fake). */
export interface NftRunner {
  available(): boolean;
  run(script: string, options?: { json?: boolean }): NftResult;
}

export function addonNftRunner(load: () => { nftAvailable(): { available: boolean }; nftRun(script: string, options?: { json?: boolean }): NftResult }): NftRunner {
  return {
    available: () => {
      try {
        return load().nftAvailable().available;
      } catch {
        return false;
      }
    },
    run: (script, options) => load().nftRun(script, options),
  };
}

function must(result: NftResult, what: string): NftResult {
  if (!result.ok) {
    const detail = result.error.trim().split('\n').slice(0, 4).join(' | ');
    throw new SidelaneError('SIDELANE_ERR_CAPTURE_APPLY', `nft ${what} failed: ${detail || 'no error text'}`, { backend: 'nft' });
  }
  return result;
}

export function sidelaneTableExists(nft: NftRunner): boolean {
  if (!nft.available()) return false;
  return nft.run(`list table inet ${NFT_TABLE}`).ok;
}

export function applyNft(nft: NftRunner, ruleset: Ruleset): void {
  must(nft.run(renderNftScript(ruleset)), 'transaction (table inet sidelane)');
}

export function removeNftTable(nft: NftRunner): boolean {
  if (!sidelaneTableExists(nft)) return false;
  must(nft.run(renderNftDelete()), 'delete table inet sidelane');
  return true;
}

/** `table inet sidelane` as `nft list` prints it (with counters), or undefined. */
export function listSidelaneTable(nft: NftRunner): string | undefined {
  if (!nft.available()) return undefined;
  const r = nft.run(`list table inet ${NFT_TABLE}`);
  return r.ok ? r.output : undefined;
}

/** One object of an ip/ip6 table (a table when chain is undefined). */
export interface NftObject {
  readonly family: 'ip' | 'ip6';
  readonly table: string;
  readonly chain?: string;
}

export const objectKey = (o: NftObject): string => `${o.family} ${o.table}${o.chain ? ` ${o.chain}` : ''}`;

interface NftJson {
  nftables?: { table?: { family: string; name: string }; chain?: { family: string; table: string; name: string }; rule?: { family: string; table: string; chain: string } }[];
}

/** Tables and chains of the ip and ip6 families (where iptables-nft lives), with each chain's rule count. */
export function nftInventory(nft: NftRunner): { objects: NftObject[]; rules: Map<string, number> } {
  const objects: NftObject[] = [];
  const rules = new Map<string, number>();
  if (!nft.available()) return { objects, rules };
  const r = nft.run('list ruleset', { json: true });
  if (!r.ok) return { objects, rules };
  const doc = JSON.parse(r.output || '{}') as NftJson;
  for (const item of doc.nftables ?? []) {
    if (item.table && (item.table.family === 'ip' || item.table.family === 'ip6')) objects.push({ family: item.table.family, table: item.table.name });
    if (item.chain && (item.chain.family === 'ip' || item.chain.family === 'ip6')) {
      objects.push({ family: item.chain.family, table: item.chain.table, chain: item.chain.name });
    }
    if (item.rule && (item.rule.family === 'ip' || item.rule.family === 'ip6')) {
      const key = objectKey({ family: item.rule.family, table: item.rule.table, chain: item.rule.chain });
      rules.set(key, (rules.get(key) ?? 0) + 1);
    }
  }
  return { objects, rules };
}

/**
 * Deletes the iptables-nft tables and chains sidelane's install created, when they are empty again (so the ruleset
 * is what it was before init). Anything that gained rules from someone else stays.
 */
export function removeCreatedObjects(nft: NftRunner, recorded: readonly NftObject[]): NftObject[] {
  // Names reach nft command text: only plain identifiers (the state file is validated on load; this is the last guard).
  const plain = (name: string | undefined): boolean => name === undefined || /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(name);
  const created = recorded.filter((o) => (o.family === 'ip' || o.family === 'ip6') && plain(o.table) && plain(o.chain));
  if (!nft.available() || created.length === 0) return [];
  const removed: NftObject[] = [];
  const inv = nftInventory(nft);
  const present = new Set(inv.objects.map(objectKey));
  for (const c of created.filter((o) => o.chain !== undefined)) {
    if (!present.has(objectKey(c)) || (inv.rules.get(objectKey(c)) ?? 0) > 0) continue;
    if (nft.run(`delete chain ${c.family} ${c.table} ${c.chain}`).ok) removed.push(c);
  }
  const after = nftInventory(nft);
  for (const t of created.filter((o) => o.chain === undefined)) {
    const hasChains = after.objects.some((o) => o.chain && o.family === t.family && o.table === t.table);
    if (after.objects.some((o) => objectKey(o) === objectKey(t)) && !hasChains && nft.run(`delete table ${t.family} ${t.table}`).ok) removed.push(t);
  }
  return removed;
}
