/**
 * The record of each demo mesh on this machine and its removal (`sidelane demo --down`). Every mesh has a run
 * directory (/run/sidelane/demo/<id>/: generated configs, logs, mesh.json) from the moment its lab exists; the
 * record names the demo process, so `--down` removes meshes left up with `--keep` and meshes whose demo process
 * died without cleaning up (SIGKILL, a crash), and leaves a demo that is still running alone.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_STATE_DIR } from '../capture/state';
import { Lab } from '../netns/lab';
import { isAlive } from '../netns/namespace-processes';

export interface DemoRecord {
  readonly version: 1;
  /** The lab id: its namespaces are `<id>-<pod>` and `<id>-node`. */
  readonly id: string;
  readonly dir: string;
  /** The `sidelane demo` process that created it. */
  readonly pid: number;
  readonly createdAt: string;
  /** Left up on purpose (--keep). */
  readonly kept: boolean;
}

/** Where run directories live: next to sidelane's capture state. */
export function demoRunBase(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.SIDELANE_STATE_DIR ?? DEFAULT_STATE_DIR, 'demo');
}

const RECORD = 'mesh.json';

export function writeRecord(r: DemoRecord): void {
  writeFileSync(path.join(r.dir, RECORD), `${JSON.stringify(r, null, 2)}\n`);
}

export function listRecords(base: string = demoRunBase()): DemoRecord[] {
  if (!existsSync(base)) return [];
  const out: DemoRecord[] = [];
  for (const entry of readdirSync(base).sort()) {
    try {
      const r = JSON.parse(readFileSync(path.join(base, entry, RECORD), 'utf8')) as DemoRecord;
      if (r.version === 1 && typeof r.id === 'string' && typeof r.pid === 'number') out.push(r);
    } catch {
      // not a demo run directory
    }
  }
  return out;
}

/** Kept meshes, and meshes whose demo process is gone: what `--down` removes. */
export function removable(r: DemoRecord, alive: (pid: number) => boolean = isAlive): boolean {
  return r.kept || !alive(r.pid);
}

/** Removes one mesh: every process in its namespaces, the namespaces, hosts files, capture state, run directory. */
export async function removeDemo(r: DemoRecord): Promise<number> {
  const lab = await Lab.find(r.id);
  const pods = lab?.pods.length ?? 0;
  await lab?.destroy();
  rmSync(r.dir, { recursive: true, force: true });
  return pods;
}
