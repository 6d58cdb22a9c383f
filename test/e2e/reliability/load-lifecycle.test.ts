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
import { test } from 'node:test';
import { stopProcess } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { echoServer, init, startProxy } from '../../support/mesh';
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
