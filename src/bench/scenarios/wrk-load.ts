/**
 * The closed-loop wrk run shared by the keep-alive, churn and L7 scenarios: wrk in the client pod (hooked when the
 * mode says so) against the server pod's nginx, with the sidecars' CPU measured over exactly the run.
 */
import { runInPodChecked } from '../pod-process';
import { parseWrk, wrkArgv, wrkFailures, type WrkReport } from '../tools/wrk';
import { assertSound } from './load-checks';
import type { ProxyUsage, ScenarioContext } from './scenario';

export interface WrkLoad {
  readonly port: number;
  readonly closeEachConnection: boolean;
}

export async function runWrkLoad(ctx: ScenarioContext, load: WrkLoad): Promise<{ report: WrkReport; usage: ProxyUsage }> {
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
