/**
 * The closed-loop wrk run shared by the keep-alive, churn and L7 scenarios: wrk in the client pod (hooked when the
 * mode says so) against the server pod's nginx, after a warm-up of the same port (warmCell), with the sidecars' CPU
 * measured over exactly the timed run.
 */
import { runInPodChecked } from '../pod-process';
import { parseWrk, wrkArgv, wrkFailures, type WrkReport } from '../tools/wrk';
import { assertSound } from './load-checks';
import type { ProxyUsage, ScenarioContext } from './scenario';

export interface WrkLoad {
  readonly port: number;
  readonly closeEachConnection: boolean;
}

/** A warm-up ends once two consecutive slices' rates are within this share of each other (and `--warmup` has passed). */
export const WARM_STEADY_SHARE = 0.15;
/** ... or after this many times `--warmup` at most. */
export const WARM_MAX_FACTOR = 4;

/**
 * The cell's own load shape (port, keep-alive or not), not measured, right before a timed cell, until the rate is
 * steady: at least `--warmup`, then slice by slice (half of `--warmup` each) until two consecutive slices agree within
 * 15 %, at most 4 × `--warmup`. Each cell measures a warm data plane: a Node.js sidecar compiles its hot paths with
 * V8's JIT, and code a process has not run for a while (the HTTP path during the TCP scenarios) or never ran (after
 * the idle-connections scenario restarts the sidecars: ~600 requests/s in the first 2 s, ~3,500 once compiled) is
 * interpreted again until it is re-optimised. HAProxy has no JIT: it is steady at once.
 */
export async function warmCell(ctx: ScenarioContext, load: WrkLoad): Promise<void> {
  const total = ctx.settings.warmupMs;
  if (total <= 0) return;
  const slice = Math.max(500, Math.round(total / 2));
  const url = `http://${ctx.mode.pods.server.ipv4}:${load.port}/`;
  const argv = ctx.mode.clientArgv(
    wrkArgv({ url, connections: ctx.settings.connections, durationMs: slice, closeEachConnection: load.closeEachConnection }),
  );
  let spent = 0;
  let previous: number | undefined;
  for (;;) {
    const r = await runInPodChecked(ctx.mode.pods.client, argv, { timeoutMs: slice + 30_000 });
    spent += slice;
    const rate = parseWrk(r.stdout).requestsPerSecond;
    if (warmEnough(spent, total, previous, rate)) return;
    previous = rate;
  }
}

/** Whether a warm-up that ran `spentMs` (of at least `warmupMs`) and just measured `rate` after `previous` may stop. */
export function warmEnough(spentMs: number, warmupMs: number, previous: number | undefined, rate: number): boolean {
  if (spentMs >= WARM_MAX_FACTOR * warmupMs) return true;
  if (spentMs < warmupMs || previous === undefined) return false;
  return Math.abs(rate - previous) <= WARM_STEADY_SHARE * Math.max(rate, previous);
}

export async function runWrkLoad(ctx: ScenarioContext, load: WrkLoad): Promise<{ report: WrkReport; usage: ProxyUsage }> {
  await warmCell(ctx, load);
  const url = `http://${ctx.mode.pods.server.ipv4}:${load.port}/`;
  const argv = ctx.mode.clientArgv(
    wrkArgv({ url, connections: ctx.settings.connections, durationMs: ctx.settings.durationMs, closeEachConnection: load.closeEachConnection }),
  );
  const { result, usage } = await ctx.measureProxy(() =>
    runInPodChecked(ctx.mode.pods.client, argv, { timeoutMs: ctx.settings.durationMs + 30_000 }),
  );
  const report = parseWrk(result.stdout);
  assertSound('wrk', report.requests, wrkFailures(report));
  return { report, usage };
}
