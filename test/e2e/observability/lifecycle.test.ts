/**
 * Issue 6 acceptance, lifecycle: the admin API is reachable only inside the pod; health turns ready only once the
 * listeners are bound and not-ready while draining; SIGTERM during 200 in-flight slow requests lets every one
 * finish, refuses new connections and exits 0; killing a worker under load loses only its connections, a
 * replacement starts and no listener is lost.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { APPS, CLI, httpEcho, init, startProxy } from '../../support/mesh';

async function curlCode(pod: Pod, url: string): Promise<string> {
  const r = await pod.exec('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', url], { allowFailure: true });
  return r.code === 0 ? r.stdout.trim() : `curl exit ${r.code}`;
}

async function listeningSockets(pod: Pod, port: number): Promise<number> {
  const r = await pod.exec('ss', ['-Hltn', `sport = :${port}`]);
  return r.stdout.split('\n').filter((l) => l.trim()).length;
}

test('admin only on loopback; health ready after the listeners bind, not ready while draining; SIGTERM drains 200 in-flight requests', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'obsl' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    await init(server);
    await httpEcho(server, ['8080:web']);

    // Health: poll from the moment the proxy starts; the first 200 must find both listeners bound.
    const spawned = server.spawn('node', [CLI, 'run', '--drain-time', '15s']);
    let stderr = '';
    spawned.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => spawned.once('exit', (code) => r(code)));
    const seen: string[] = [];
    for (let i = 0; i < 200; i++) {
      const code = await curlCode(server, 'http://127.0.0.1:15021/healthz/ready');
      seen.push(code);
      if (code === '200') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(seen.at(-1), '200', `health never became ready: ${seen.join(',')} ${stderr}`);
    assert.ok(seen.length > 1, 'health was polled before it was ready');
    assert.ok((await listeningSockets(server, 15006)) >= 2 && (await listeningSockets(server, 15001)) >= 2, 'ready implies both listeners bound (v4+v6, every worker)');
    assert.equal(await curlCode(client, `http://${server.ipv4}:15021/healthz/ready`), '200', 'kubelet reaches health on the pod IP');

    // Admin: on loopback inside the pod only.
    assert.equal(await curlCode(server, 'http://127.0.0.1:15000/ready'), '200');
    const fromOutside = await curlCode(client, `http://${server.ipv4}:15000/ready`);
    assert.match(fromOutside, /curl exit 7|000/, `the admin API must not answer another pod (got ${fromOutside})`);

    // 200 slow requests in flight, then SIGTERM.
    const burst = client.spawn('node', [path.join(APPS, 'http-burst.js'), `http://${server.ipv4}:8080/slow?delay=3000`, '200']);
    let burstOut = '';
    burst.stdout?.on('data', (d: Buffer) => (burstOut += d.toString()));
    const burstDone = new Promise<void>((r) => burst.once('exit', () => r()));
    let active = 0;
    for (let i = 0; i < 100 && active < 200; i++) {
      const stats = (await server.exec('curl', ['-sS', 'http://127.0.0.1:15000/stats?filter=downstream_cx_active'])).stdout;
      active = [...stats.matchAll(/downstream_cx_active\.inbound: (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
      if (active < 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(active, 200, 'all 200 requests are in flight through the proxy when SIGTERM arrives');
    spawned.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await curlCode(server, 'http://127.0.0.1:15021/healthz/ready'), '503', 'not ready while draining');
    const fresh = await client.exec('curl', ['-sS', '-o', '/dev/null', '--max-time', '3', `http://${server.ipv4}:8080/new`], { allowFailure: true });
    assert.match(fresh.stderr, /reset|refused|Recv failure|Empty reply|Couldn't connect/i, `a new connection during the drain is refused (curl exit ${fresh.code}: ${fresh.stderr})`);
    await burstDone;
    const result = JSON.parse(burstOut) as { statuses: Record<string, number>; errors: string[] };
    assert.deepEqual(result, { statuses: { 200: 200 }, errors: [] }, 'every in-flight request completed');
    assert.equal(await exited, 0, `exit code after the drain (stderr: ${stderr})`);
  });
});

test('a killed worker loses only its own connections; a replacement starts and no listener is lost', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'obsw' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    await init(server);
    await httpEcho(server, ['8080:web']);
    const proxy = await startProxy(server, ['--concurrency', '2']);
    const info = async (): Promise<{ workers: { index: number; pid: number; ready: boolean; restarts: number }[] }> =>
      JSON.parse((await server.exec('curl', ['-sS', 'http://127.0.0.1:15000/server_info'])).stdout) as { workers: { index: number; pid: number; ready: boolean; restarts: number }[] };
    const before = await info();
    assert.equal(before.workers.length, 2);
    const victim = before.workers[0]!;

    // Continuous load: short connections, 20 at a time, for ~4 s; one worker is killed in the middle.
    const load = (n: number): Promise<{ statuses: Record<string, number>; errors: string[] }> =>
      client.exec('node', [path.join(APPS, 'http-burst.js'), `http://${server.ipv4}:8080/w`, String(n)], { env: { ...process.env, BURST_TIMEOUT_MS: '5000' } }).then((r) => JSON.parse(r.stdout) as { statuses: Record<string, number>; errors: string[] });
    const during = (async () => {
      const all = { ok: 0, failed: 0 };
      for (let i = 0; i < 20; i++) {
        const r = await load(20);
        all.ok += r.statuses['200'] ?? 0;
        all.failed += r.errors.length + Object.entries(r.statuses).filter(([c]) => c !== '200').reduce((n, [, v]) => n + v, 0);
      }
      return all;
    })();
    await new Promise((r) => setTimeout(r, 800));
    process.kill(victim.pid, 'SIGKILL');
    const totals = await during;
    assert.ok(totals.ok > 300, `the surviving worker kept serving (${JSON.stringify(totals)})`);
    assert.ok(totals.failed <= 40, `only the killed worker's connections may fail (${JSON.stringify(totals)})`);
    t.diagnostic(`during the kill: ${JSON.stringify(totals)}`);

    let after = await info();
    for (let i = 0; i < 100 && !(after.workers.length === 2 && after.workers.every((w) => w.ready) && after.workers[0]!.pid !== victim.pid); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await info();
    }
    assert.notEqual(after.workers[0]!.pid, victim.pid, 'a replacement worker started');
    assert.equal(after.workers[0]!.restarts, 1);
    assert.ok(after.workers.every((w) => w.ready));
    assert.equal(await listeningSockets(server, 15006), before.workers.length * 2, 'every worker has its inbound listeners again (v4 + v6)');
    assert.equal(await listeningSockets(server, 15001), before.workers.length * 2);
    const again = await load(50);
    assert.deepEqual(again, { statuses: { 200: 50 }, errors: [] }, 'after the replacement every request succeeds');
    const metrics = (await server.exec('curl', ['-sS', 'http://127.0.0.1:15090/stats/prometheus'])).stdout;
    assert.match(metrics, /^sidelane_worker_restarts_total 1$/m);
    void proxy;
  });
});
