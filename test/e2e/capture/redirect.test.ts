/**
 * The Istio-style REDIRECT baseline end to end: inbound NAT to 15006 and outbound NAT to 15001, the listeners
 * reading SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST, the relay's own upstream (bypass mark) never redirected again,
 * IPv4 and IPv6 — and nf_conntrack_count grows with connections, as NAT requires.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { withLab } from '../../support/netns';
import { connectFrom, sidelaneOk, startPeer } from '../../support/capture';

for (const backend of ['nft', 'iptables-legacy', 'iptables-nft'] as const) {
  test(`--mode redirect: NAT both ways with SO_ORIGINAL_DST, no loop, conntrack entries (${backend}, IPv4 and IPv6)`, async (t) => {
    await withLab(t, { prefix: 'capred' }, async (lab) => {
      try {
        const srv = await lab.addPod('srv');
        const client = await lab.addPod('client');
        const ext = await lab.addPod('ext');
        await startPeer(ext, 'app', ['--ports', '9000', '--family', 'both']);
        await sidelaneOk(srv, ['init', '--mode', 'REDIRECT', '--backend', backend, '--ipv6']);
        const inbound = await startPeer(srv, 'tproxy-listener', ['--redirect', '--port', '15006', '--family', 'both']);
        const relay = await startPeer(srv, 'outbound-relay', ['--redirect', '--port', '15001', '--family', 'both']);
        assert.equal(await srv.conntrackCount(), 0);

        for (const family of [4, 6] as const) {
          const s = family === 4 ? srv.ipv4 : srv.ipv6!;
          const e = family === 4 ? ext.ipv4 : ext.ipv6!;
          const r = await connectFrom(client, s, 8080);
          assert.equal(r.ok, true, JSON.stringify(r));
          const accepted = await inbound.waitFor((ev) => ev.event === 'accept' && ev.family === family);
          assert.equal(accepted.local, `${s}:8080`, 'SO_ORIGINAL_DST gives the original destination');

          const out = await connectFrom(srv, e, 9000);
          assert.equal(out.ok, true, JSON.stringify(out));
          assert.equal(out.peer, `${e}:9000`, "the app's getpeername() is the server (NAT reverses it)");
          const relayed = await relay.waitFor((ev) => ev.event === 'relay' && ev.origDst === `${e}:9000`);
          assert.ok(relayed);
        }
        assert.equal(relay.events.filter((e) => e.event === 'relay').length, 2, "the relay's own upstream connections were not redirected again");
        const tracked = await srv.conntrackCount();
        assert.ok(tracked >= 4, `REDIRECT needs conntrack: expected entries for the 4 connections, got ${tracked}`);
      } finally {
        rmSync(`/run/sidelane-test/${lab.id}`, { recursive: true, force: true });
      }
    });
  });
}
