/**
 * Issue 10, backpressure: a reader that consumes slowly (2 MiB/s for the first 4 s, then at full speed) while a
 * large upload (or download) flows through a real `sidelane run` sidecar — TCP through the hook and inbound, on the
 * native and the JavaScript data path, HTTP bodies both ways through the connection manager. The sidecar's resident
 * memory (VmRSS summed over the supervisor and its workers, sampled every 200 ms during the whole transfer) must stay
 * under its idle baseline plus a fixed allowance, the sender must be held back (bytes in flight stay a small fraction
 * of the upload), and every byte must still arrive intact.
 * Sizes: SIDELANE_BACKPRESSURE_MIB per case (default 256); scripts/soak-integrity.ts runs 1 GiB per case with a
 * reader slow for 30 s.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab } from '../../support/netns';
import { IntegrityMesh } from '../../support/integrity-mesh';
import { BACKPRESSURE_CASES, casesFor, measureBaseline, runBackpressureCase, RSS_ALLOWANCE, type BackpressureOutcome } from '../../support/backpressure';
import { MiB, mib } from '../../support/rss-sampler';

const BYTES = Number(process.env.SIDELANE_BACKPRESSURE_MIB ?? 256) * MiB;

// The HTTP upload on the inbound side runs in the soak script (the connection manager is the same code both ways).
const CASES = BACKPRESSURE_CASES.filter((c) => !(c.capture === 'inbound' && c.proto === 'http'));

test('a slow reader keeps the proxy memory bounded while a large transfer flows (hook, inbound, HTTP; native and js)', { timeout: 240_000 }, async (t) => {
  await withLab(t, { prefix: 'bpress' }, async (lab) => {
    const mesh = await IntegrityMesh.create(lab, { dataPath: 'native' });
    const rows: BackpressureOutcome[] = [];
    for (const dataPath of ['native', 'js'] as const) {
      if (mesh.dataPath !== dataPath) await mesh.restartProxies(dataPath);
      const cases = casesFor(dataPath, CASES);
      const baseline = await measureBaseline(mesh);
      for (const c of cases) {
        await t.test(`${mesh.label(c)} ${c.mode}`, async () => {
          const o = await runBackpressureCase(mesh, c, BYTES, baseline);
          rows.push(o);
          assert.deepEqual(o.problems, [], `${o.label}: intact`);
          assert.ok(o.slowBytes <= o.slowAllowed, `${o.label}: the reader was slow (${mib(o.slowBytes)} MiB read in the slow phase, at most ${mib(o.slowAllowed)})`);
          assert.ok(o.inFlight <= o.inFlightBound, `${o.label}: the sender was held back (${mib(o.inFlight)} MiB in flight at the end of the slow phase, kernel socket buffers hold at most ${mib(o.inFlightBound)})`);
          assert.ok(o.peak <= o.ceiling, `${o.label}: proxy RSS peak ${mib(o.peak)} MiB, ceiling ${mib(o.ceiling)} MiB (baseline ${mib(o.baseline)} + ${mib(RSS_ALLOWANCE)})`);
        });
      }
    }
    t.diagnostic(`\n${rows.map((r) => `${r.label.padEnd(30)} baseline ${mib(r.baseline).padStart(6)} peak ${mib(r.peak).padStart(6)} (+${mib(r.peak - r.baseline)}) in flight ${mib(r.inFlight).padStart(5)} MiB`).join('\n')}`);
  });
});
