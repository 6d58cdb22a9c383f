/**
 * The resident memory of a process tree over time (the proxy: supervisor plus its workers), read from /proc as an
 * operator would (VmRSS of every process whose ancestry reaches the root, summed), sampled on a fixed interval.
 * The backpressure tests hold its peak against a ceiling.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { rssBytes } from './proxy-probe';

/** Parent pid of a process from /proc/PID/stat (the field after the parenthesised command), or -1. */
function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return -1;
  }
}

/** `root` and every live descendant of it. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const ppid = parentOf(pid);
    if (ppid <= 0) continue;
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

export interface RssSample {
  /** ms since sampling started. */
  readonly t: number;
  /** Sum of VmRSS over the tree, bytes. */
  readonly rss: number;
  /** [pid, VmRSS bytes] of each process of the tree, the root (supervisor) first. */
  readonly byPid: readonly (readonly [number, number])[];
}

export interface RssSeries {
  readonly samples: readonly RssSample[];
  readonly peak: number;
  /** The sample at the peak (which process held what). */
  readonly atPeak: RssSample | undefined;
  readonly first: number;
  readonly last: number;
}

/**
 * Samples the tree under `root` every `intervalMs` until stop(). The tree is re-read every sample, so a worker that
 * is replaced mid-transfer is still counted (and a crash shows as a pid missing from `byPid`).
 */
export class RssSampler {
  private readonly samples: RssSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private started = 0;

  constructor(
    private readonly root: number,
    private readonly intervalMs = 200,
  ) {}

  start(): this {
    this.started = Date.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  private sample(): void {
    const byPid = processTree(this.root).map((p) => [p, rssBytes(p)] as const);
    this.samples.push({ t: Date.now() - this.started, rss: byPid.reduce((n, [, b]) => n + b, 0), byPid });
  }

  stop(): RssSeries {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    const rss = this.samples.map((s) => s.rss);
    const peak = Math.max(...rss);
    return { samples: [...this.samples], peak, atPeak: this.samples.find((s) => s.rss === peak), first: rss[0] ?? 0, last: rss[rss.length - 1] ?? 0 };
  }
}

export const MiB = 1024 * 1024;

export function mib(bytes: number): string {
  return (bytes / MiB).toFixed(1);
}
