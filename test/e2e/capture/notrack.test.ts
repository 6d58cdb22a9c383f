/**
 * What the raw-table notrack rules do, measured with nf_conntrack_count:
 *  1. installing them does not itself make the kernel track anything in the namespace (count stays 0 for
 *     captured and non-captured traffic alike);
 *  2. once something else in the namespace loads conntrack (a `ct state invalid drop` rule, like Istio's
 *     DROP_INVALID), captured inbound and outbound flows still create no entry, while a non-captured connection
 *     does (so the measurement is shown to be able to fail);
 *  3. with --no-notrack the same captured flows do create entries.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { connectFrom, sidelaneOk, startPeer } from '../../support/capture';

async function captured(client: Pod, srv: Pod, ext: Pod, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const inbound = await connectFrom(client, srv.ipv4, 8080);
    assert.equal(inbound.ok, true, JSON.stringify(inbound));
    const outbound = await connectFrom(srv, ext.ipv4, 9000);
    assert.equal(outbound.ok, true, JSON.stringify(outbound));
  }
}

/** A foreign rule that needs conntrack (so the kernel starts tracking in this namespace), in the backend's own tool. */
async function loadConntrack(pod: Pod, backend: string): Promise<void> {
  if (backend === 'nft') {
    await pod.exec('nft', ['add table inet user; add chain inet user input { type filter hook input priority 0; }; add rule inet user input ct state invalid drop']);
  } else {
    await pod.exec(backend === 'iptables-legacy' ? 'iptables-legacy' : 'iptables-nft', ['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
  }
}

for (const backend of ['nft', 'iptables-nft', 'iptables-legacy'] as const) {
  test(`notrack keeps captured flows out of conntrack and does not start tracking by itself (${backend})`, async (t) => {
    await withLab(t, { prefix: 'capnt', ipv6: false }, async (lab) => {
      try {
        const srv = await lab.addPod('srv');
        const client = await lab.addPod('client');
        const ext = await lab.addPod('ext');
        await startPeer(ext, 'app', ['--ports', '9000']);
        await startPeer(srv, 'app', ['--ports', '15021']);
        await sidelaneOk(srv, ['init', '--backend', backend, '--outbound', 'tproxy']);
        await startPeer(srv, 'tproxy-listener', ['--port', '15006']);
        await startPeer(srv, 'outbound-relay', ['--port', '15001']);

        // 1. Rules installed, nothing else: no tracking at all, captured or not.
        await captured(client, srv, ext, 3);
        const direct = await connectFrom(client, srv.ipv4, 15021);
        assert.equal(direct.ok, true, JSON.stringify(direct));
        await srv.exec('ping', ['-c', '1', '-W', '2', client.ipv4], { allowFailure: true });
        assert.equal(await srv.conntrackCount(), 0, 'the notrack rules must not make the kernel track anything');

        // 2. Something else loads conntrack: captured flows stay untracked, a non-captured one is tracked.
        await loadConntrack(srv, backend);
        const control = await connectFrom(client, srv.ipv4, 15021);
        assert.equal(control.ok, true);
        const afterControl = await srv.conntrackCount();
        assert.ok(afterControl >= 1, `conntrack is now active: the non-captured connection is tracked (count ${afterControl})`);
        await captured(client, srv, ext, 5);
        const afterCaptured = await srv.conntrackCount();
        const table = afterCaptured > afterControl ? (await srv.exec('conntrack', ['-L'], { allowFailure: true })).stdout : '';
        assert.ok(afterCaptured <= afterControl, `captured flows created conntrack entries: ${afterControl} -> ${afterCaptured}\n${table}`);

        // 3. Without notrack the same flows are tracked: it is the notrack rules that kept them out.
        await sidelaneOk(srv, ['init', '--backend', backend, '--outbound', 'tproxy', '--no-notrack']);
        await captured(client, srv, ext, 5);
        const withoutNotrack = await srv.conntrackCount();
        assert.ok(withoutNotrack >= afterCaptured + 5, `with --no-notrack captured flows are tracked (${afterCaptured} -> ${withoutNotrack})`);
      } finally {
        rmSync(`/run/sidelane-test/${lab.id}`, { recursive: true, force: true });
      }
    });
  });
}
