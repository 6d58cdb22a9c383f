/**
 * An idle sidecar sleeps (issue 11): a mesh runs one sidecar per pod, most of them idle most of the time, so an idle
 * `sidelane run` must not poll. Every process of the proxy (supervisor and workers) is watched over a few seconds with
 * no traffic: its main thread's context switches (each wake-up from epoll_wait is one) stay under a small rate.
 * prom-client's default event-loop-delay sampling (a 10 ms timer) once woke every worker 100 times a second.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { withLab } from '../../support/netns';
import { init, startProxy } from '../../support/mesh';

/** Wake-ups allowed per second and process: Node's HTTP server checks request timeouts every second, the event-loop
 * delay sampler runs every 100 ms, a few timers more; 100/s is what a 10 ms poll gives. */
const MAX_WAKEUPS_PER_S = 30;
const WATCH_MS = 4000;

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Context switches of a process's main thread (voluntary + involuntary). */
function switches(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  const n = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return n('voluntary_ctxt_switches') + n('nonvoluntary_ctxt_switches');
}

test('an idle sidecar sleeps: supervisor and workers wake fewer than 30 times a second', { timeout: 60_000 }, async (t) => {
  await withLab(t, { prefix: 'idle' }, async (lab) => {
    const pod = await lab.addPod('app');
    await init(pod);
    const proxy = await startProxy(pod, ['--concurrency', '2']);
    try {
      const supervisor = proxy.process.pid!;
      const pids = [supervisor, ...children(supervisor)];
      assert.equal(pids.length, 3, `supervisor and 2 workers expected, found ${pids.join(',')}`);
      await new Promise((r) => setTimeout(r, 1500)); // start-up work (JIT, first metrics) settles
      const before = pids.map(switches);
      await new Promise((r) => setTimeout(r, WATCH_MS));
      const rates = pids.map((p, i) => ((switches(p) - before[i]!) * 1000) / WATCH_MS);
      t.diagnostic(`wake-ups per second (supervisor, workers): ${rates.map((r) => r.toFixed(1)).join(', ')}`);
      for (const [i, rate] of rates.entries()) {
        assert.ok(rate < MAX_WAKEUPS_PER_S, `${i === 0 ? 'supervisor' : `worker ${pids[i]}`} woke ${rate.toFixed(1)} times a second while idle`);
      }
    } finally {
      proxy.process.kill('SIGTERM');
      await proxy.exited;
    }
  });
});
