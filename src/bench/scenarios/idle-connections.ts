/**
 * Many concurrent idle connections: a client opens N connections through both sidecars (one request each, then
 * idle, as pooled keep-alive connections sit in real meshes) and holds them; the growth of each sidecar's resident
 * memory and open descriptors divided by N is its cost per connection. Kernel socket buffers are not in RSS.
 */
import path from 'node:path';
import { SidelaneError } from '../../errors';
import { stopProcess } from '../../netns/lab';
import { HTTP_PORT } from '../server-apps';
import type { ProcessUsage } from '../process-usage';
import { waitFor } from '../readiness';
import type { Metrics, Scenario, ScenarioContext } from './scenario';

const IDLE_CLIENT = path.join(__dirname, '..', 'idle-client.js');
const SETTLE_MS = 500;

/** Starts the idle client and resolves once it holds every connection (it keeps them until stopped). */
async function holdConnections(ctx: ScenarioContext, count: number): Promise<{ stop: () => Promise<void> }> {
  const argv = ctx.mode.clientArgv([process.execPath, IDLE_CLIENT, ctx.mode.pods.server.ipv4, String(HTTP_PORT), String(count)]);
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
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SidelaneError('SIDELANE_ERR_BENCH', `idle client: not all ${count} connections open after 120 s`)), 120_000);
      child.stdout?.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        if (/^READY \d+$/m.test(stdout)) {
          clearTimeout(timer);
          resolve();
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
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
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
  ],
  // No sidecar, nothing to measure in `direct`; HAProxy in mode http is only the L7 peer.
  appliesTo: (mode) => mode !== 'direct' && mode !== 'haproxy-http',
  async run(ctx) {
    const count = ctx.settings.idleConnections;
    const before = ctx.sampleSidecars();
    const held = await holdConnections(ctx, count);
    try {
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const after = ctx.sampleSidecars();
      after.forEach((a, i) => {
        // Every proxied connection holds at least one socket in each sidecar; fewer means traffic bypassed it.
        if (a.fds - before[i]!.fds < count) {
          throw new SidelaneError('SIDELANE_ERR_BENCH', `sidecar ${i + 1} gained ${a.fds - before[i]!.fds} descriptors for ${count} connections: traffic did not pass through it`);
        }
      });
      return perConnection(before, after, count);
    } finally {
      await held.stop();
      // Let the sidecars finish closing N connections before the next cell measures anything.
      await waitFor('the sidecars to close the idle connections', async () => ctx.sampleSidecars().every((a, i) => a.fds <= before[i]!.fds + 64), 20_000).catch(
        () => undefined,
      );
    }
  },
};
