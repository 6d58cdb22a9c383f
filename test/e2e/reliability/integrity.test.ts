/**
 * Issue 10, integrity: deterministic pseudo-random bytes through every capture path of real `sidelane run` sidecars
 * — inbound TPROXY, outbound via the connect() hook, outbound TPROXY fallback (hook present but disabled) — for a TCP
 * port and an HTTP port (large POST bodies and large responses, Content-Length and chunked, through the HTTP
 * connection manager), on the native data path and (TCP) the JavaScript one. Each run has several concurrent
 * streams; TCP streams half-close in both orders (client FIN first and then reading everything, server FIN first and
 * then the client still sending) and run full duplex. Both ends hash (sha256) what they sent and what they received;
 * the sidecar's access log must show the same byte counts (which also proves the bytes went through it).
 * Sizes: SIDELANE_INTEGRITY_MIB per path on the default (native) data path, TCP and HTTP (default 256), half of it
 * per path on the JavaScript fallback, to keep the file near a minute on a loaded 2-core machine
 * (docs/reliability/integrity.md has the measured times; scripts/soak-integrity.ts runs 1 GiB per path).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab } from '../../support/netns';
import { IntegrityMesh, type CapturePath, type PathOutcome, type Proto } from '../../support/integrity-mesh';
import { MiB } from '../../support/rss-sampler';

const PER_PATH = Number(process.env.SIDELANE_INTEGRITY_MIB ?? 256) * MiB;
const PER_FALLBACK_PATH = PER_PATH / 2;

function table(rows: readonly PathOutcome[]): string {
  return rows.map((r) => `${r.label.padEnd(22)} ${String(r.bytes / MiB).padStart(6)} MiB ${r.mbPerS.toFixed(0).padStart(5)} MB/s ${r.problems.length === 0 ? 'sha256 match' : 'MISMATCH'}`).join('\n');
}

test('bytes through every capture path arrive intact: sha256 equal at both ends, half-close both ways, concurrent streams', { timeout: 300_000 }, async (t) => {
  await withLab(t, { prefix: 'integ' }, async (lab) => {
    const mesh = await IntegrityMesh.create(lab, { dataPath: 'native' });
    const rows: PathOutcome[] = [];
    const path = async (capture: CapturePath, proto: Proto, bytes = PER_PATH): Promise<void> => {
      await t.test(mesh.label({ capture, proto }), async () => {
        const outcome = await mesh.run({ capture, proto, bytes, streams: proto === 'tcp' ? 6 : 4 });
        rows.push(outcome);
        assert.deepEqual(outcome.problems, [], `${outcome.label}: every stream intact`);
        assert.equal(outcome.bytes, bytes);
      });
    };
    for (const proto of ['tcp', 'http'] as const) {
      for (const capture of ['inbound', 'hook', 'tproxy'] as const) await path(capture, proto);
    }
    await mesh.restartProxies('js');
    for (const capture of ['inbound', 'hook', 'tproxy'] as const) await path(capture, 'tcp', PER_FALLBACK_PATH);
    t.diagnostic(`\n${table(rows)}`);
    for (const pod of [mesh.client, mesh.server, mesh.plain]) assert.equal(await pod.conntrackCount(), 0, `nf_conntrack_count in ${pod.name}`);
  });
});
