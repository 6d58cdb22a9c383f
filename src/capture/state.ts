/**
 * The record of what `sidelane init` installed in one network namespace (/run/sidelane/netns-<inode>.json): the
 * facts cleanup cannot discover on its own — the ::6 address it added, the iptables-nft tables and chains its
 * install created, the legacy tables it had to instantiate. Rules, chains and tagged routes are found by discovery.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SidelaneError } from '../errors';
import { BACKENDS, type Backend } from './backend-detection';
import type { Family } from './cidr';
import type { NftObject } from './nft-backend';
import { CAPTURE_MODES, type CaptureMode } from './options';

export interface CaptureState {
  readonly version: 1;
  readonly netns: string;
  readonly backend: Backend;
  readonly mode: CaptureMode;
  readonly families: readonly Family[];
  readonly mark: number;
  readonly routeTable: number;
  readonly addedPassthroughAddress: boolean;
  readonly createdNftObjects: readonly NftObject[];
  readonly instantiatedLegacyTables: readonly string[];
}

export interface StateStore {
  load(netns: string): CaptureState | undefined;
  save(state: CaptureState): void;
  remove(netns: string): void;
  pathFor(netns: string): string;
}

export const DEFAULT_STATE_DIR = '/run/sidelane';

/**
 * Table and chain names cleanup may put into an nft command: plain identifiers only. iptables-nft's own tables and
 * base chains (mangle, PREROUTING…) are all of this shape; anything else is never recorded nor deleted.
 */
export function isPlainNftName(name: unknown): name is string {
  return typeof name === 'string' && /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(name);
}

const LEGACY_TABLES = ['raw', 'mangle', 'nat', 'filter', 'security'];
/** How init records a legacy table it made the kernel instantiate: `ipv4 mangle`, `ipv6 raw`, … */
const LEGACY_TABLE_ENTRY = new RegExp(`^ipv[46] (${LEGACY_TABLES.join('|')})$`);

/**
 * Checks a state record read from disk field by field: cleanup turns some of its fields into nft commands and route
 * deletions, so a file that was edited (or written by something else) must not smuggle anything in. Returns the
 * first problem as `path: expected …`, or undefined when the record is sound.
 */
export function stateProblem(s: unknown): string | undefined {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return 'expected a JSON object';
  const r = s as Record<string, unknown>;
  const u32 = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 0xffffffff;
  if (r.version !== 1) return 'version: expected 1';
  if (typeof r.netns !== 'string') return 'netns: expected a string';
  if (!(BACKENDS as readonly unknown[]).includes(r.backend)) return `backend: expected one of ${BACKENDS.join(', ')}`;
  if (!(CAPTURE_MODES as readonly unknown[]).includes(r.mode)) return `mode: expected one of ${CAPTURE_MODES.join(', ')}`;
  if (!Array.isArray(r.families) || r.families.length === 0 || !r.families.every((f) => f === 4 || f === 6)) return 'families: expected a list of 4 and/or 6';
  if (!u32(r.mark)) return 'mark: expected an integer 1-4294967295';
  if (!u32(r.routeTable)) return 'routeTable: expected an integer 1-4294967295';
  if (typeof r.addedPassthroughAddress !== 'boolean') return 'addedPassthroughAddress: expected true or false';
  if (!Array.isArray(r.createdNftObjects)) return 'createdNftObjects: expected a list';
  for (const [i, o] of (r.createdNftObjects as unknown[]).entries()) {
    const obj = (typeof o === 'object' && o !== null ? o : {}) as Record<string, unknown>;
    if (obj.family !== 'ip' && obj.family !== 'ip6') return `createdNftObjects[${i}].family: expected ip or ip6`;
    if (!isPlainNftName(obj.table)) return `createdNftObjects[${i}].table: expected a plain nft identifier`;
    if (obj.chain !== undefined && !isPlainNftName(obj.chain)) return `createdNftObjects[${i}].chain: expected a plain nft identifier`;
  }
  if (!Array.isArray(r.instantiatedLegacyTables)) return 'instantiatedLegacyTables: expected a list';
  for (const [i, t] of (r.instantiatedLegacyTables as unknown[]).entries()) {
    if (typeof t !== 'string' || !LEGACY_TABLE_ENTRY.test(t)) return `instantiatedLegacyTables[${i}]: expected "ipv4 TABLE" or "ipv6 TABLE" with TABLE one of ${LEGACY_TABLES.join(', ')}`;
  }
  return undefined;
}

/** `net:[4026532280]` → `netns-4026532280.json`. */
function fileName(netns: string): string {
  const inode = /\[(\d+)\]/.exec(netns)?.[1] ?? netns.replace(/[^A-Za-z0-9_-]/g, '_');
  return `netns-${inode}.json`;
}

export class FileStateStore implements StateStore {
  constructor(readonly dir: string = process.env.SIDELANE_STATE_DIR ?? DEFAULT_STATE_DIR) {}

  pathFor(netns: string): string {
    return path.join(this.dir, fileName(netns));
  }

  load(netns: string): CaptureState | undefined {
    const file = this.pathFor(netns);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined; // no record: nothing beyond what discovery finds
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw badState(file, `not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    const problem = stateProblem(parsed);
    if (problem !== undefined) throw badState(file, problem);
    const s = parsed as CaptureState;
    return s.netns === netns ? s : undefined;
  }

  save(state: CaptureState): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const file = this.pathFor(state.netns);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
    renameSync(tmp, file);
  }

  remove(netns: string): void {
    rmSync(this.pathFor(netns), { force: true });
  }
}

function badState(file: string, problem: string): SidelaneError {
  return new SidelaneError(
    'SIDELANE_ERR_CAPTURE_STATE',
    `the capture state file ${file} is not a record sidelane wrote (${problem}); nothing was changed — inspect it, remove it and run the command again`,
    { file },
  );
}

/** In memory, for tests. */
export class MemoryStateStore implements StateStore {
  readonly states = new Map<string, CaptureState>();
  pathFor(netns: string): string {
    return `memory:${netns}`;
  }
  load(netns: string): CaptureState | undefined {
    return this.states.get(netns);
  }
  save(state: CaptureState): void {
    this.states.set(state.netns, state);
  }
  remove(netns: string): void {
    this.states.delete(netns);
  }
}
