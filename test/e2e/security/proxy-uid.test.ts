/**
 * Issue 4 acceptance, issue 10 security: capture never covers the proxy itself, also when the proxy is told apart
 * by its owner instead of the bypass mark — the real `sidelane run --user 1337 --no-bypass-mark` with
 * `sidelane init -u 1337` (Istio's identity) in every outbound mode (hook+tproxy, tproxy, hook) and for inbound TPROXY
 * with the client's address preserved, then with `-g 1337`. Each connection is counted exactly once by the proxy
 * (capture counter, upstream connections) and once by the server. A control without the owner exclusion shows the
 * loop these counts would reveal.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { cleanEnv, echoServer, execHooked, init, startProxy } from '../../support/mesh';
import { scrape, sum } from '../../support/prometheus';

interface Counts {
  hook: number;
  tproxyOut: number;
  tproxyIn: number;
  upstream: number;
}

async function counts(pod: Pod): Promise<Counts> {
  const s = await scrape(pod);
  return {
    hook: sum(s, 'sidelane_capture_connections_total', { direction: 'outbound', capture: 'hook' }),
    tproxyOut: sum(s, 'sidelane_capture_connections_total', { direction: 'outbound', capture: 'tproxy' }),
    tproxyIn: sum(s, 'sidelane_capture_connections_total', { direction: 'inbound', capture: 'tproxy' }),
    upstream: sum(s, 'envoy_cluster_upstream_cx_total'),
  };
}

const diff = (a: Counts, b: Counts): Counts => ({ hook: b.hook - a.hook, tproxyOut: b.tproxyOut - a.tproxyOut, tproxyIn: b.tproxyIn - a.tproxyIn, upstream: b.upstream - a.upstream });

/** One connection from `from` to host:port; returns the echo server's `peer <address>` address, or the failure. */
async function connectOnce(from: Pod, host: string, port: number, hooked: boolean): Promise<string> {
  const py = ['python3', '-c', `import socket\ntry:\n    s = socket.create_connection(('${host}', ${port}), timeout=5); print(s.makefile().readline().strip() or 'eof')\nexcept OSError as e: print(type(e).__name__)`];
  const out = hooked ? await execHooked(from, py) : (await from.exec(py[0]!, py.slice(1), { env: cleanEnv(), timeoutMs: 20_000 })).stdout;
  const line = out.trim();
  return line.startsWith('peer ') ? line.split(' ')[1]! : line;
}

/** Connections logged by an echo server started with { log: true }. */
function connLog(child: { stdout?: NodeJS.ReadableStream | null }): () => number {
  let n = 0;
  child.stdout?.on('data', (d: Buffer) => (n += d.toString().split('\n').filter((l) => l.startsWith('conn ')).length));
  return () => n;
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 200));

test('the proxy as UID 1337 with the owner exclusion (no bypass mark): every mode, every connection proxied exactly once', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'secuid' }, async (lab) => {
    const app = await lab.addPod('app');
    const server = await lab.addPod('server');
    const client = await lab.addPod('client');
    const serverConns = connLog(await echoServer(server, [9000], { log: true }));
    const appConns = connLog(await echoServer(app, [8080], { log: true }));
    await init(app, ['-u', '1337']);
    let proxy = await startProxy(app, ['--user', '1337', '--no-bypass-mark']);
    assert.match(proxy.stderr(), /uid 1337 gid 1337, capabilities cap_net_admin/);
    const info = JSON.parse((await app.exec('curl', ['-sS', 'http://127.0.0.1:15000/server_info'])).stdout) as { command_line_options: { sidecar: { bypassMark: number } } };
    assert.equal(info.command_line_options.sidecar.bypassMark, 0, 'the proxy puts no SO_MARK on its sockets');

    /** One connection of each kind asked for, each checked to be seen exactly once everywhere. */
    const once = async (what: string, kind: 'hook' | 'tproxyOut' | 'tproxyIn'): Promise<void> => {
      const before = await counts(app);
      const s0 = serverConns();
      const a0 = appConns();
      const seen =
        kind === 'tproxyIn' ? await connectOnce(client, app.ipv4, 8080, false) : await connectOnce(app, server.ipv4, 9000, kind === 'hook');
      await settle();
      const delta = diff(before, await counts(app));
      const want: Counts = { hook: 0, tproxyOut: 0, tproxyIn: 0, upstream: 1, [kind]: 1 };
      if (kind === 'tproxyIn') {
        assert.equal(seen, client.ipv4, `${what}: the app sees the client's own address (source preserved)`);
        assert.equal(appConns() - a0, 1, `${what}: the app saw one connection`);
      } else {
        assert.equal(seen, app.ipv4, `${what}: the server sees the pod`);
        assert.equal(serverConns() - s0, 1, `${what}: the server saw one connection`);
      }
      assert.deepEqual(delta, want, `${what}: proxied exactly once`);
    };

    await t.test('init -u 1337, outbound hook+tproxy: a hooked client, a plain client, an inbound client', async () => {
      await once('hooked', 'hook');
      await once('plain (TPROXY fallback)', 'tproxyOut');
      await once('inbound', 'tproxyIn');
    });
    await t.test('init -u 1337 --outbound tproxy: a plain client, an inbound client', async () => {
      await init(app, ['-u', '1337', '--outbound', 'tproxy']);
      await once('plain', 'tproxyOut');
      await once('inbound', 'tproxyIn');
    });
    await t.test('init -u 1337 --outbound hook: a hooked client, an inbound client', async () => {
      await init(app, ['-u', '1337', '--outbound', 'hook']);
      await once('hooked', 'hook');
      await once('inbound', 'tproxyIn');
    });
    await t.test('init -g 1337 (the proxy runs with group 1337): hooked, plain, inbound', async () => {
      await init(app, ['-g', '1337']);
      await once('hooked', 'hook');
      await once('plain', 'tproxyOut');
      await once('inbound', 'tproxyIn');
    });
    assert.equal(await app.conntrackCount(), 0, 'conntrack-free with the owner exclusion too');

    await t.test('control: without -u/-g an unmarked proxy captures its own upstream connections (the loop the counts above rule out)', async () => {
      await init(app);
      proxy.process.kill('SIGTERM');
      await proxy.exited;
      // A small fd limit ends the loop quickly: every turn costs the proxy two descriptors.
      proxy = await startProxy(app, ['--user', '1337', '--no-bypass-mark', '--concurrency', '1'], {}, { fileLimit: 200 });
      const before = await counts(app);
      const s0 = serverConns();
      await connectOnce(app, server.ipv4, 9000, false);
      await new Promise((r) => setTimeout(r, 1000));
      const delta = diff(before, await counts(app));
      t.diagnostic(`control: one client connection was captured ${delta.tproxyOut} times before the fd limit stopped the loop`);
      assert.ok(delta.tproxyOut > 2, `the proxy's own upstream connection was captured again and again (${delta.tproxyOut} captures for one client connection)`);
      assert.equal(serverConns() - s0, 0, 'and the server never saw it');
    });
  });
});
