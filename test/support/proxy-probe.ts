/**
 * Looks at a running `sidelane run` from outside, as an operator would: worker pids from the admin API, open file
 * descriptors from /proc (the pods share the test's pid namespace), resident memory, counters from /stats, and
 * polling until a condition settles. Used by the reliability tests to prove "no leak" claims black-box.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Pod } from '../../src/netns/lab';

export interface WorkerInfo {
  readonly index: number;
  readonly pid: number;
  readonly ready: boolean;
  readonly restarts: number;
}

export interface ServerInfo {
  readonly state: string;
  readonly workers: readonly WorkerInfo[];
}

export async function serverInfo(pod: Pod, adminPort = 15000): Promise<ServerInfo> {
  const r = await pod.exec('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${adminPort}/server_info`]);
  return JSON.parse(r.stdout) as ServerInfo;
}

export async function workerPids(pod: Pod, adminPort = 15000): Promise<number[]> {
  return (await serverInfo(pod, adminPort)).workers.map((w) => w.pid);
}

/** Open file descriptors of a process (entries of /proc/PID/fd); -1 when it is gone. */
export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/** Resident set size of a process in bytes (VmRSS), 0 when it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Per-pid fd counts of the given processes. */
export function fdSnapshot(pids: readonly number[]): Record<number, number> {
  return Object.fromEntries(pids.map((p) => [p, fdCount(p)]));
}

/** Polls until `check` returns true (or the deadline passes); resolves with the last value of `read`. */
export async function settle<T>(read: () => T | Promise<T>, check: (v: T) => boolean, timeoutMs = 10_000, stepMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  let v = await read();
  while (!check(v) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, stepMs));
    v = await read();
  }
  return v;
}

/**
 * Waits until every process has exactly its baseline number of fds again (connections close asynchronously) and
 * returns what was seen; the caller asserts equality, so a leak shows as the numbers that differ.
 */
export async function fdsBackTo(baseline: Record<number, number>, timeoutMs = 10_000): Promise<Record<number, number>> {
  const pids = Object.keys(baseline).map(Number);
  return settle(
    () => fdSnapshot(pids),
    (now) => pids.every((p) => now[p] === baseline[p]),
    timeoutMs,
  );
}

/** Empty splice pipes the proxy's native relays keep for reuse (`sidelane_relay_pipes{state="pooled"}`, all workers). */
export async function relayPipesPooled(pod: Pod, metricsPort = 15090): Promise<number> {
  const r = await pod.exec('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${metricsPort}/stats/prometheus`]);
  const m = /^sidelane_relay_pipes\{state="pooled"\} (\d+)$/m.exec(r.stdout);
  if (!m) throw new Error('no sidelane_relay_pipes{state="pooled"} in the metrics');
  return Number(m[1]);
}

/**
 * Open fds of the given proxy processes together, less the native relays' pooled pipes (a bounded cache of 2 fds
 * per pipe, not a leak) — what a leak check compares before and after.
 */
export async function fdsNetOfPipePool(pod: Pod, pids: readonly number[]): Promise<number> {
  const pooled = await relayPipesPooled(pod);
  return pids.reduce((n, p) => n + fdCount(p), 0) - 2 * pooled;
}

/** `/stats` counters of the proxy (Envoy-style `name: value` lines), optionally filtered by a regex. */
export async function stats(pod: Pod, filter?: string, adminPort = 15000): Promise<Record<string, number>> {
  const q = filter ? `?filter=${encodeURIComponent(filter)}` : '';
  const r = await pod.exec('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${adminPort}/stats${q}`]);
  const out: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+): (-?[\d.]+)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Sum of the `/stats` values whose names match `re`. */
export function statSum(s: Record<string, number>, re: RegExp): number {
  return Object.entries(s).reduce((n, [k, v]) => (re.test(k) ? n + v : n), 0);
}

/** Downstream connections the proxy holds open now (every worker, both directions). */
export async function activeDownstream(pod: Pod, adminPort = 15000): Promise<number> {
  return statSum(await stats(pod, 'downstream_cx_active', adminPort), /downstream_cx_active/);
}

/** Lines of `text` that are JSON objects (access log, proxy log), parsed; other lines are skipped. */
export function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by a concurrent write: not ours to judge here
    }
  }
  return out;
}
