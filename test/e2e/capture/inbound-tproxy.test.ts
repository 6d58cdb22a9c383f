/**
 * Inbound TPROXY with real packets: a client pod connects to the server pod's IP:8080, the transparent listener on
 * 15006 accepts it with local address <server>:8080 and sees the client's own address, nothing enters conntrack,
 * excluded ports are not captured, and `capture show` counters move. Every backend, IPv4 and IPv6.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { withLab } from '../../support/netns';
import { connectFrom, sidelane, sidelaneOk, startPeer } from '../../support/capture';

const BACKENDS = ['nft', 'iptables-nft', 'iptables-legacy'] as const;

for (const backend of BACKENDS) {
  test(`inbound TPROXY delivers the original destination as the local address, conntrack-free (${backend}, IPv4 and IPv6)`, async (t) => {
    await withLab(t, { prefix: 'capin' }, async (lab) => {
      try {
        const server = await lab.addPod('server');
        const client = await lab.addPod('client');
        await sidelaneOk(server, ['init', '--backend', backend, '--ipv6']);
        const listener = await startPeer(server, 'tproxy-listener', ['--port', '15006', '--family', 'both']);

        for (const [family, dst, src] of [
          [4, server.ipv4, client.ipv4],
          [6, server.ipv6!, client.ipv6!],
        ] as const) {
          const report = await connectFrom(client, dst, 8080);
          assert.equal(report.ok, true, `IPv${family} connection through capture failed: ${JSON.stringify(report)}`);
          const accepted = await listener.waitFor((e) => e.event === 'accept' && e.family === family);
          assert.equal(accepted.local, family === 4 ? `${dst}:8080` : `${dst}:8080`, 'the accepted socket keeps the original destination');
          assert.match(String(accepted.remote), new RegExp(`^${src.replace(/[.]/g, '\\.')}:\\d+$`), 'the listener sees the client pod');
          assert.match(String(report.data), new RegExp(`^local=${dst.replace(/[.]/g, '\\.')}:8080 `));
          assert.equal(report.peer, `${dst}:8080`, "the client's getpeername() is the server it called");
        }

        // 15021 is never captured: nobody listens there, so the kernel refuses instead of the proxy accepting.
        const health = await connectFrom(client, server.ipv4, 15021);
        assert.equal(health.error, 'ECONNREFUSED', `an excluded port must not be captured: ${JSON.stringify(health)}`);
        assert.equal(listener.events.filter((e) => e.event === 'accept').length, 2, 'only the two captured connections reached the listener');

        assert.equal(await server.conntrackCount(), 0, 'inbound TPROXY must not create conntrack entries');
        assert.equal(await client.conntrackCount(), 0);

        const show = JSON.parse((await sidelaneOk(server, ['capture', 'show', '-o', 'json'])).stdout) as {
          rules: { backend: string; packets: number; rule: string; reason: string }[];
        };
        const tproxy = show.rules.filter((r) => r.backend === backend && /TPROXY|tproxy/.test(r.rule) && /15006/.test(r.rule) && !/drop/.test(r.rule));
        assert.ok(tproxy.length >= 1, `capture show lists the inbound TPROXY rule: ${JSON.stringify(show.rules.map((r) => r.rule))}`);
        assert.ok(tproxy.reduce((n, r) => n + r.packets, 0) >= 2, 'its packet counter moved with the two SYNs');
        assert.ok(show.rules.every((r) => r.reason.length > 0), 'every rule carries its reason');
        const text = await sidelane(server, ['capture', 'show']);
        assert.match(text.stdout, /a new inbound connection/);
      } finally {
        rmSync(`/run/sidelane-test/${lab.id}`, { recursive: true, force: true });
      }
    });
  });
}
