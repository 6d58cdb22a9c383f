/**
 * Demo meshes left up with `--keep`, and their removal (`sidelane demo --down`): each lives in a run directory
 * (/run/sidelane/demo/<id>/: generated configs, logs, and mesh.json describing the lab), which is all another
 * process needs to find every namespace again and remove it with everything running inside.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_STATE_DIR } from '../capture/state';
import { Lab, type LabDescriptor } from '../netns/lab';

export interface KeptDemo {
  readonly version: 1;
  readonly lab: LabDescriptor;
  readonly dir: string;
  readonly createdAt: string;
}

/** Where run directories live: next to sidelane's capture state. */
export function demoRunBase(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.SIDELANE_STATE_DIR ?? DEFAULT_STATE_DIR, 'demo');
}

const RECORD = 'mesh.json';

export function recordKept(dir: string, lab: LabDescriptor, now: Date = new Date()): KeptDemo {
  const kept: KeptDemo = { version: 1, lab, dir, createdAt: now.toISOString() };
  writeFileSync(path.join(dir, RECORD), `${JSON.stringify(kept, null, 2)}\n`);
  return kept;
}

export function listKept(base: string = demoRunBase()): KeptDemo[] {
  if (!existsSync(base)) return [];
  const out: KeptDemo[] = [];
  for (const entry of readdirSync(base).sort()) {
    try {
      const k = JSON.parse(readFileSync(path.join(base, entry, RECORD), 'utf8')) as KeptDemo;
      if (k.version === 1 && k.lab?.id) out.push(k);
    } catch {
      // a run directory without a record is a demo still running (or one that died): not ours to remove
    }
  }
  return out;
}

/** Removes one kept mesh: processes, namespaces, hosts files, capture state, then its run directory. */
export async function removeKept(k: KeptDemo): Promise<void> {
  await Lab.attach(k.lab).destroy();
  rmSync(k.dir, { recursive: true, force: true });
}
