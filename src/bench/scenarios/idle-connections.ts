/**
 * Many concurrent idle connections: a client opens N connections through both sidecars (one request each, then
 * idle, as pooled keep-alive connections sit in real meshes) and holds them; the growth of each sidecar's resident
 * memory and open descriptors divided by N is its cost per connection. Kernel socket buffers are not in RSS.
 *
 * The sidecars are restarted first (same capture) and warmed with one second of keep-alive load: a process keeps
 * the memory of its earlier peaks (HAProxy's pools, V8's heap, malloc arenas), so in a process that already held N
 * connections a second measurement would find them almost free.
 */
import path from 'node:path';
import { SidelaneError } from '../../errors';
import { stopProcess } from '../../netns/lab';
import { runInPodChecked } from '../pod-process';
import { HTTP_PORT } from '../server-apps';
import { wrkArgv } from '../tools/wrk';
import type { ProcessUsage } from '../process-usage';
import { waitFor } from '../readiness';
import { assertSound, MAX_ERROR_SHARE } from './load-checks';
import type { Metrics, Scenario, ScenarioContext } from './scenario';

const IDLE_CLIENT = path.join(__dirname, '..', 'idle-client.js');
const QUIET_BYTES = 512 * 1024;
const QUIET_WINDOW_MS = 1500;
const QUIET_MAX_MS = 15_000;

/**
 * Samples the sidecars once their memory has stopped moving (no sidecar's RSS changed by more than 512 KiB over
 * 1.5 s, or 15 s at most): a Node.js sidecar's RSS also follows its garbage collector and allocator, and a sample
 * taken while it returns the previous cell's buffers to the OS would make the per-connection figure meaningless.
 */
async function quietSample(ctx: ScenarioContext): Promise<readonly ProcessUsage[]> {
  const deadline = Date.now() + QUIET_MAX_MS;
  let window = [ctx.sampleSidecars()];
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const now = ctx.sampleSidecars();
    window = [...window, now].slice(-(QUIET_WINDOW_MS / 250 + 1));
    const moved = now.some((u, i) => Math.max(...window.map((w) => Math.abs(w[i]!.rssBytes - u.rssBytes))) > QUIET_BYTES);
    if ((!moved && window.length > QUIET_WINDOW_MS / 250) || Date.now() >= deadline) return now;
  }
}

interface Held {
  readonly held: number;
  readonly failed: number;
  readonly firstError: string;
  stop(): Promise<void>;
}

/** Starts the idle client and resolves once it has opened its connections (it keeps them until stopped). */
async function holdConnections(ctx: ScenarioContext, count: number): Promise<Held> {
  const maxFailed = Math.floor(count * MAX_ERROR_SHARE);
  const argv = ctx.mode.clientArgv([process.execPath, IDLE_CLIENT, ctx.mode.pods.server.ipv4, String(HTTP_PORT), String(count), String(maxFailed)]);
  const [cmd, ...args] = argv;
  const child = ctx.mode.pods.client.spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const stop = (): Promise<void> => {
    child.stdin?.end();
    return stopProcess(child, 5000);
  };
  let stdout = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  try {
    const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SidelaneError('SIDELANE_ERR_BENCH', `idle client: not all ${count} connections open after 120 s`)), 120_000);
      child.stdout?.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        const m = /^READY (\d+) (\d+) ?(.*)$/m.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        }
        const err = /^ERROR (.*)$/m.exec(stdout);
        if (err) {
          clearTimeout(timer);
          reject(new SidelaneError('SIDELANE_ERR_BENCH', `idle client: ${err[1]}`));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new SidelaneError('SIDELANE_ERR_BENCH', `idle client exited with ${String(code)} before holding its connections: ${stderr.trim().split('\n').slice(-2).join(' | ')}`));
      });
    });
    return { held: Number(ready[1]), failed: Number(ready[2]), firstError: ready[3] ?? '', stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export function perConnection(before: readonly ProcessUsage[], after: readonly ProcessUsage[], count: number): Metrics {
  const kib = after.map((a, i) => (a.rssBytes - before[i]!.rssBytes) / 1024 / count);
  const fds = after.map((a, i) => (a.fds - before[i]!.fds) / count);
  const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
  return {
    kib_per_conn: mean(kib),
    client_kib_per_conn: kib[0]!,
    server_kib_per_conn: kib[kib.length - 1]!,
    fds_per_conn: mean(fds),
  };
}

export const idleConnectionsScenario: Scenario = {
  name: 'idle-connections',
  title: 'Many idle connections (memory per connection)',
  method: 'N connections opened through both sidecars (one request each, then idle); growth of each sidecar\'s RSS and fds, divided by N',
  peer: 'haproxy',
  metrics: [
    { key: 'kib_per_conn', label: 'proxy memory per connection (mean of the 2 sidecars)', unit: 'KiB', better: 'lower', headline: true, proxyOnly: true, digits: 2 },
    { key: 'client_kib_per_conn', label: 'client sidecar memory per connection', unit: 'KiB', better: 'lower', proxyOnly: true, digits: 2 },
    { key: 'server_kib_per_conn', label: 'server sidecar memory per connection', unit: 'KiB', better: 'lower', proxyOnly: true, digits: 2 },
    { key: 'fds_per_conn', label: 'proxy fds per connection (per sidecar)', unit: 'fds', better: 'lower', proxyOnly: true, digits: 2 },
    { key: 'failed_conns', label: 'connections that failed to open', unit: 'conns', better: 'lower', proxyOnly: true, digits: 0 },
  ],
  // No sidecar, nothing to measure in `direct`; HAProxy in mode http is only the L7 peer.
  appliesTo: (mode) => mode !== 'direct' && mode !== 'haproxy-http',
  async run(ctx) {
    await ctx.mode.restartSidecars();
    const url = `http://${ctx.mode.pods.server.ipv4}:${HTTP_PORT}/`;
    await runInPodChecked(ctx.mode.pods.client, ctx.mode.clientArgv(wrkArgv({ url, connections: ctx.settings.connections, durationMs: 1000 })), {
      timeoutMs: 30_000,
    });
    const before = await quietSample(ctx);
    const held = await holdConnections(ctx, ctx.settings.idleConnections);
    try {
      // The same rule as the load scenarios: a few failures are reported, more fail the cell.
      assertSound(`idle connections (first failure: ${held.firstError || 'none'})`, held.held + held.failed, held.failed);
      const after = await quietSample(ctx);
      after.forEach((a, i) => {
        // Every proxied connection holds at least one socket in each sidecar; fewer means traffic bypassed it.
        if (a.fds - before[i]!.fds < held.held) {
          throw new SidelaneError('SIDELANE_ERR_BENCH', `sidecar ${i + 1} gained ${a.fds - before[i]!.fds} descriptors for ${held.held} connections: traffic did not pass through it`);
        }
      });
      return { ...perConnection(before, after, held.held), failed_conns: held.failed };
    } finally {
      await held.stop();
      // Let the sidecars finish closing N connections before the next cell measures anything.
      await waitFor('the sidecars to close the idle connections', async () => ctx.sampleSidecars().every((a, i) => a.fds <= before[i]!.fds + 64), 20_000).catch(
        () => undefined,
      );
    }
  },
};
