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

/**
 * The cell's own load shape (port, keep-alive or not) for `--warmup`, not measured, right before a timed cell. Each cell measures a warm data
 * plane: a Node.js sidecar compiles its hot paths with V8's JIT, and code a process has not run for a while (the
 * HTTP path during the TCP scenarios) or never ran (after the idle-connections scenario restarts the sidecars) is
 * interpreted again until it is re-optimised. HAProxy has no JIT; the warm-up costs it nothing.
 */
export async function warmCell(ctx: ScenarioContext, load: WrkLoad): Promise<void> {
  if (ctx.settings.warmupMs <= 0) return;
  const url = `http://${ctx.mode.pods.server.ipv4}:${load.port}/`;
  const argv = ctx.mode.clientArgv(
    wrkArgv({ url, connections: ctx.settings.connections, durationMs: ctx.settings.warmupMs, closeEachConnection: load.closeEachConnection }),
  );
  await runInPodChecked(ctx.mode.pods.client, argv, { timeoutMs: ctx.settings.warmupMs + 30_000 });
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
