/**
 * The record of what `sidelane init` installed in one network namespace (/run/sidelane/netns-<inode>.json): the
 * facts cleanup cannot discover on its own — the ::6 address it added, the iptables-nft tables and chains its
 * install created, the legacy tables it had to instantiate. Rules, chains and tagged routes are found by discovery.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Backend } from './backend-detection';
import type { Family } from './cidr';
import type { NftObject } from './nft-backend';
import type { CaptureMode } from './options';

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
    try {
      const s = JSON.parse(readFileSync(this.pathFor(netns), 'utf8')) as CaptureState;
      return s.version === 1 && s.netns === netns ? s : undefined;
    } catch {
      return undefined;
    }
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
