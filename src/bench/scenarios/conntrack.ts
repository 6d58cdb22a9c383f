/**
 * Conntrack entries per 1,000 connections: a burst of new connections (curl, `Connection: close`, one after another)
 * through both sidecars, with nf_conntrack_count read in both pods before and after. TPROXY capture with notrack
 * must create none; nat REDIRECT needs one entry per redirected connection and tracks the proxy's legs too.
 * Both tables are flushed first (`conntrack -F`, in the pods only), so what remains after is the burst's.
 * nginx's accept counter (read over a unix socket, which conntrack never sees) proves every connection arrived.
 */
import { SidelaneError } from '../../errors';
import { runInPodChecked } from '../pod-process';
import { acceptedConnections, HTTP_PORT, RESPONSE_BODY } from '../server-apps';
import type { Scenario } from './scenario';

export function curlBurstArgv(url: string, count: number): string[] {
  // URL globbing makes curl request ?n=1 … ?n=count, each on a new connection because of Connection: close.
  // Sequential on purpose: with --parallel, curl starts every queued transfer's --max-time at once, so a slow mode
  // would fail transfers that never started.
  return ['curl', '-sS', '--no-progress-meter', '--fail', '--max-time', '10', '-H', 'Connection: close', `${url}?n=[1-${count}]`];
}

export const conntrackScenario: Scenario = {
  name: 'conntrack',
  title: 'Conntrack entries per 1,000 connections',
  method: 'a burst of N new connections (curl, Connection: close, one after another); nf_conntrack_count of both pods before and after',
  peer: 'haproxy',
  metrics: [
    { key: 'per1000', label: 'conntrack entries per 1,000 connections (both pods)', unit: 'entries', better: 'lower', headline: true, absolute: true, digits: 0 },
    { key: 'client_per1000', label: 'client pod entries per 1,000', unit: 'entries', better: 'lower', absolute: true, digits: 0 },
    { key: 'server_per1000', label: 'server pod entries per 1,000', unit: 'entries', better: 'lower', absolute: true, digits: 0 },
    { key: 'client_table', label: 'client pod nf_conntrack_count after', unit: 'entries', better: 'lower', absolute: true, digits: 0 },
    { key: 'server_table', label: 'server pod nf_conntrack_count after', unit: 'entries', better: 'lower', absolute: true, digits: 0 },
  ],
  appliesTo: (mode) => mode !== 'haproxy-http',
  async run(ctx) {
    const count = ctx.settings.burstConnections;
    const { client, server } = ctx.mode.pods;
    const accepted0 = await acceptedConnections(ctx.server);
    // Nothing else is open at this point; older entries (earlier cells' TIME_WAIT) would otherwise expire mid-burst.
    await Promise.all([client, server].map((pod) => pod.exec('conntrack', ['-F'], { allowFailure: true })));
    const [c0, s0] = await Promise.all([client.conntrackCount(), server.conntrackCount()]);
    const url = `http://${server.ipv4}:${HTTP_PORT}/`;
    const r = await runInPodChecked(client, ctx.mode.clientArgv(curlBurstArgv(url, count)), { timeoutMs: 120_000 });
    const [c1, s1] = await Promise.all([client.conntrackCount(), server.conntrackCount()]);
    const accepted1 = await acceptedConnections(ctx.server);
    const answered = r.stdout.split(RESPONSE_BODY).length - 1;
    const reached = accepted1 - accepted0 - 1; // minus the second status request itself
    if (answered !== count || reached < count) {
      throw new SidelaneError('SIDELANE_ERR_BENCH', `conntrack burst: ${answered} of ${count} requests answered, ${reached} connections reached nginx`);
    }
    const per1000 = (d: number): number => (Math.max(0, d) * 1000) / count;
    return {
      per1000: per1000(c1 - c0) + per1000(s1 - s0),
      client_per1000: per1000(c1 - c0),
      server_per1000: per1000(s1 - s0),
      client_table: c1,
      server_table: s1,
    };
  },
};
