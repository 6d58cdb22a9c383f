/**
 * Issue 10, load: 5,000 concurrent connections with continuous churn for 2 minutes through two real sidecars
 * (`sidelane run --concurrency 2` in a client pod and in a server pod): hooked clients → client sidecar's outbound
 * listener → server pod → TPROXY → server sidecar's inbound listener → echo app. Every connect and every exchange is
 * checked; afterwards both proxies are back at rest — no downstream, upstream or relayed connection left, every
 * worker holding the socket fds it held before, pipe fds only those the relay pools — and neither pod has a
 * conntrack entry. The scenario lives in test/support/load-scenario.ts (scripts/soak-load.ts runs it longer).
 * SIDELANE_LOAD_DURATION_S, SIDELANE_LOAD_CONNECTIONS and SIDELANE_LOAD_RATE change the run (default 120 s, 5,000,
 * 250 new connections/s).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab } from '../../support/netns';
import { runChurnLoad, type PodResult } from '../../support/load-scenario';

const DURATION_S = Number(process.env.SIDELANE_LOAD_DURATION_S ?? 120);
const CONNECTIONS = Number(process.env.SIDELANE_LOAD_CONNECTIONS ?? 5000);
const RATE = Number(process.env.SIDELANE_LOAD_RATE ?? 250);

function atRest(r: PodResult): void {
  assert.equal(r.after.active, 0, `${r.pod} proxy: no downstream connection left open`);
  assert.equal(r.upstreamActiveAfter, 0, `${r.pod} proxy: no upstream connection left open`);
  assert.equal(r.relaysAfter, 0, `${r.pod} proxy: no relay left running`);
  assert.equal(r.restarts, 0, `${r.pod} proxy: no worker restarted`);
  for (const pid of r.workers) {
    const before = r.before.fds[pid]!;
    const after = r.after.fds[pid]!;
    assert.equal(after.socket, before.socket, `${r.pod} worker ${pid}: socket fds back to the baseline (${JSON.stringify({ before, after })})`);
    assert.equal(after.other, before.other, `${r.pod} worker ${pid}: other fds back to the baseline (${JSON.stringify({ before, after })})`);
  }
  // Pipes: whatever each worker's relay pools for reuse (two fds per pipe, at most 256 pipes), nothing else.
  const pipesBefore = r.workers.reduce((n, p) => n + r.before.fds[p]!.pipe, 0);
  const pipesAfter = r.workers.reduce((n, p) => n + r.after.fds[p]!.pipe, 0);
  assert.equal(pipesAfter - pipesBefore, 2 * (r.pooledPipesAfter - r.pooledPipesBefore), `${r.pod} proxy: pipe fds beyond the baseline are the relay's pooled pipes`);
  assert.ok(r.pooledPipesAfter <= 256 * r.workers.length, `${r.pod} proxy: the pipe pool stays bounded (${r.pooledPipesAfter})`);
  assert.equal(r.conntrack, 0, `${r.pod}: nf_conntrack_count`);
}

test(`${CONNECTIONS} concurrent connections with churn for ${DURATION_S} s through both sidecars: none fails, nothing leaks, conntrack 0`, { timeout: (DURATION_S + 150) * 1000 }, async (t) => {
  await withLab(t, { prefix: 'rlload' }, async (lab) => {
    const r = await runChurnLoad(lab, { connections: CONNECTIONS, durationMs: DURATION_S * 1000, rate: RATE, concurrency: 2 });
    const s = r.summary;
    t.diagnostic(`client: ${JSON.stringify({ ...s, peers: Object.keys(s.peers) })}`);
    for (const p of [r.client, r.server]) {
      const perWorker = p.workers.map((w) => `${w}: ${JSON.stringify(p.before.fds[w])} → peak ${JSON.stringify(p.peak.fds[w])} → ${JSON.stringify(p.after.fds[w])}`);
      t.diagnostic(`${p.pod} pod TCP: ${JSON.stringify(p.tcpCounters)}`);
      t.diagnostic(`${p.pod} proxy: peak ${p.peak.active} active, RSS ${(p.before.rssBytes / 2 ** 20).toFixed(0)} → ${(p.peak.rssBytes / 2 ** 20).toFixed(0)} → ${(p.after.rssBytes / 2 ** 20).toFixed(0)} MiB; pooled pipes ${p.pooledPipesBefore} → ${p.pooledPipesAfter}; ${perWorker.join('; ')}`);
    }

    const why = [r.client, r.server].map((p) => `${p.pod} proxy: counters ${JSON.stringify(p.failureCounters)}, access log ${JSON.stringify(p.accessLog.unclean)} ${p.accessLog.samples.join(' ')}`).join('; ');
    assert.deepEqual(s.errors, {}, `no connection failed (${why})`);
    assert.equal(s.failed, 0);
    assert.equal(s.ok, s.opened, 'every connection opened was checked to the end');
    assert.equal(s.exchanges, 2 * s.ok, 'two echoed exchanges per connection');
    assert.equal(s.peakEstablished, CONNECTIONS, `${CONNECTIONS} connections were held at once`);
    const churned = s.opened - CONNECTIONS;
    assert.ok(churned >= 0.5 * RATE * DURATION_S, `continuous churn: ${churned} replacement connections (expected about ${RATE * DURATION_S})`);
    assert.deepEqual(Object.keys(s.peers), [r.clientPodAddress], 'the app saw the client pod as the source (preserved through both sidecars)');
    // Both proxies really carried the load (not a bypass): each held about N connections at the peak.
    assert.ok(r.client.peak.active >= 0.9 * CONNECTIONS, `client proxy peak ${r.client.peak.active}`);
    assert.ok(r.server.peak.active >= 0.9 * CONNECTIONS, `server proxy peak ${r.server.peak.active}`);

    for (const p of [r.client, r.server]) {
      assert.equal(p.accessLog.entries, s.opened, `${p.pod} proxy logged every connection once`);
      assert.deepEqual(p.accessLog.unclean, {}, `${p.pod} proxy: every connection ended as a clean close`);
      atRest(p);
    }
  });
});
