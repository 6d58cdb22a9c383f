/**
 * The REDIRECT baseline through the real proxy (issue 4): both pods with `sidelane init --mode redirect` and
 * `sidelane run --capture-mode redirect`; HTTP and TCP over IPv4 and IPv6 through both sidecars, the original
 * destination read with SO_ORIGINAL_DST, no loop — and nf_conntrack_count grows, as NAT requires (the measurement
 * that shows 0 for TPROXY can show more than 0).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab } from '../../support/netns';
import { echoServer, httpEcho, init, startProxy, tcpLoad } from '../../support/mesh';
import { scrape, sum } from '../../support/prometheus';

test('REDIRECT mode end to end through both sidecars, IPv4 and IPv6, with conntrack entries', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'obred' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    for (const pod of [client, server]) {
      await init(pod, ['--mode', 'redirect']);
    }
    const clientProxy = await startProxy(client, ['--capture-mode', 'redirect']);
    await startProxy(server, ['--capture-mode', 'redirect']);
    await httpEcho(server, ['8080:web']);
    await echoServer(server, [9000]);
    for (const host of [server.ipv4, server.ipv6!]) {
      const url = host.includes(':') ? `http://[${host}]:8080/r` : `http://${host}:8080/r`;
      const r = await client.exec('curl', ['-sS', '-g', '--max-time', '10', url]);
      const seen = JSON.parse(r.stdout) as { peer: string; name: string };
      assert.equal(seen.name, 'web');
      assert.equal(seen.peer, host.includes(':') ? '::6' : '127.0.0.6', 'the baseline reaches the app from 127.0.0.6 / ::6, as Istio');
      const tcp = await tcpLoad(client, { host, port: 9000 }, 20, 5, 10_000);
      assert.equal(tcp.ok, 20, JSON.stringify(tcp));
      assert.equal(tcp.bytes, 200_000);
    }
    const cm = await scrape(client);
    assert.ok(sum(cm, 'sidelane_capture_connections_total', { direction: 'outbound', capture: 'redirect' }) >= 42, 'outbound connections came through REDIRECT');
    assert.equal(sum(cm, 'sidelane_capture_connections_total', { capture: 'tproxy' }) + sum(cm, 'sidelane_capture_connections_total', { capture: 'hook' }), 0);
    const sm = await scrape(server);
    assert.ok(sum(sm, 'sidelane_capture_connections_total', { direction: 'inbound', capture: 'redirect' }) >= 42);
    // No loop: the client sidecar's upstream connections were not redirected back into it (one outbound accept per
    // client connection, each reaching the server once).
    assert.equal(sum(cm, 'sidelane_capture_connections_total', { direction: 'inbound' }), 0, 'the client proxy never received its own upstream connections');
    const log = clientProxy.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { original_dst: string; capture: string });
    assert.ok(log.some((e) => e.capture === 'redirect' && e.original_dst === `${server.ipv4}:9000`), 'SO_ORIGINAL_DST gave the original destination');
    assert.ok(log.some((e) => e.capture === 'redirect' && e.original_dst === `[${server.ipv6}]:9000`));
    assert.ok((await client.conntrackCount()) > 0, 'NAT needs conntrack: entries exist in the client pod');
    assert.ok((await server.conntrackCount()) > 0, 'and in the server pod');
  });
});
