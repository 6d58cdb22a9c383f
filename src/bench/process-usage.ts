/**
 * CPU time, resident memory and open descriptors of the sidecar processes, read from /proc. A sidecar is a process
 * tree (sidelane with --concurrency workers, HAProxy's threads count inside their process), so every figure is
 * the sum over the root pid and all its live descendants.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** The parts of /proc the sampler reads; injectable so parsing is testable on recorded text. */
export interface ProcFs {
  readText(path: string): string | undefined;
  list(path: string): string[] | undefined;
}

export const realProcFs: ProcFs = {
  readText(p) {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
  list(p) {
    try {
      return readdirSync(p);
    } catch {
      return undefined;
    }
  },
};

export interface ProcessUsage {
  /** The pids sampled (roots and descendants alive at sampling time). */
  readonly pids: readonly number[];
  /** User + system CPU time, seconds. */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  readonly fds: number;
}

export interface StatFields {
  readonly ppid: number;
  /** utime + stime in clock ticks. */
  readonly cpuTicks: number;
}

/** Parses /proc/<pid>/stat; the command name may hold spaces and parentheses, so fields start after the last ')'. */
export function parseStat(text: string): StatFields | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const f = text.slice(close + 2).trim().split(/\s+/);
  // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  const ppid = Number(f[1]);
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  if (![ppid, utime, stime].every(Number.isFinite)) return undefined;
  return { ppid, cpuTicks: utime + stime };
}

/** VmRSS from /proc/<pid>/status, in bytes (0 for a zombie, which has no memory left). */
export function parseRss(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

let clockTicks: number | undefined;

/** The kernel's USER_HZ (clock ticks per second of /proc/<pid>/stat), 100 on every mainstream Linux. */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number.parseInt(r.stdout ?? '', 10);
    clockTicks = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

/** The roots plus every live descendant (a process tree walk over /proc/<pid>/stat parent links). */
export function processTree(roots: readonly number[], proc: ProcFs = realProcFs): number[] {
  const children = new Map<number, number[]>();
  for (const entry of proc.list('/proc') ?? []) {
    if (!/^\d+$/.test(entry)) continue;
    const st = proc.readText(`/proc/${entry}/stat`);
    const fields = st === undefined ? undefined : parseStat(st);
    if (!fields) continue;
    const list = children.get(fields.ppid) ?? [];
    list.push(Number(entry));
    children.set(fields.ppid, list);
  }
  const seen = new Set<number>();
  const queue = [...roots];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return [...seen].filter((pid) => proc.readText(`/proc/${pid}/stat`) !== undefined);
}

export function sampleProcesses(roots: readonly number[], proc: ProcFs = realProcFs, ticksPerSecond = clockTicksPerSecond()): ProcessUsage {
  const pids = roots.length === 0 ? [] : processTree(roots, proc);
  let ticks = 0;
  let rssBytes = 0;
  let fds = 0;
  for (const pid of pids) {
    const st = proc.readText(`/proc/${pid}/stat`);
    const fields = st === undefined ? undefined : parseStat(st);
    if (fields) ticks += fields.cpuTicks;
    rssBytes += parseRss(proc.readText(`/proc/${pid}/status`) ?? '');
    fds += proc.list(`/proc/${pid}/fd`)?.length ?? 0;
  }
  return { pids, cpuSeconds: ticks / ticksPerSecond, rssBytes, fds };
}
