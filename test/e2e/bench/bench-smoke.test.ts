/**
 * `sidelane bench --quick` end to end on the conntrack scenario: real pods, the real CLI (`init`, `run`, `exec`),
 * real curl bursts. The report must have its shape, REDIRECT must leave conntrack entries, the TPROXY modes none,
 * and nothing the run created (namespaces, capture state files) may remain.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { BenchResult } from '../../../src/bench/result';
import { listNetns } from '../../../src/netns/lab';
import { runBenchCli } from '../../support/bench-cli';
import { netnsAvailable } from '../../support/netns';

test('bench --quick conntrack: redirect leaves entries, TPROXY modes none, report shape, nothing left behind', async (t) => {
  if (!netnsAvailable(t)) return;
  const dir = mkdtempSync(path.join(tmpdir(), 'sidelane-bench-smoke-'));
  let labId: string | undefined;
  try {
    const json = path.join(dir, 'result.json');
    const svg = path.join(dir, 'chart.svg');
    const r = await runBenchCli(
      ['--quick', '--scenarios', 'conntrack', '--modes', 'direct,redirect,tproxy+hook,tproxy', '--burst-connections', '300', '--json', json, '--svg', svg],
      50_000,
    );
    labId = r.labId;
    assert.equal(r.code, 0, `bench failed:\n${r.stderr.slice(-3000)}`);
    assert.deepEqual(r.leftStateFiles, [], 'capture state files left behind (sidelane cleanup did not run)');
    const result = JSON.parse(readFileSync(json, 'utf8')) as BenchResult;
    assert.equal(result.schema, 'sidelane-bench/1');
    assert.deepEqual(result.settings.modes, ['direct', 'redirect', 'tproxy+hook', 'tproxy']);
    assert.equal(result.cells.length, 4);
    assert.deepEqual(result.cells.filter((c) => c.error !== undefined), []);
    assert.ok(result.machine.cores > 0 && result.machine.kernel.length > 0 && result.machine.tools.wrk);

    const conntrack = result.summary.find((s) => s.scenario === 'conntrack');
    assert.ok(conntrack);
    const per1000 = conntrack.metrics.find((m) => m.spec.key === 'per1000')!;
    const value = (mode: 'direct' | 'redirect' | 'tproxy+hook' | 'tproxy'): number => per1000.byMode[mode]!.median;
    assert.ok(value('redirect') > 0, `redirect must create conntrack entries, got ${value('redirect')}`);
    assert.equal(value('tproxy+hook'), 0, 'tproxy+hook created conntrack entries');
    assert.equal(value('tproxy'), 0, 'tproxy created conntrack entries');
    assert.equal(value('direct'), 0);
    for (const mode of ['tproxy+hook', 'tproxy'] as const) {
      const cell = result.cells.find((c) => c.mode === mode)!;
      assert.equal(cell.metrics.client_table, 0, `${mode}: client pod conntrack table`);
      assert.equal(cell.metrics.server_table, 0, `${mode}: server pod conntrack table`);
    }

    assert.match(r.stdout, /^## sidelane bench — /);
    assert.match(r.stdout, /### Conntrack\n\n\| metric \| `direct` \| `redirect` \| `tproxy\+hook` \| `tproxy` \|/);
    assert.match(readFileSync(svg, 'utf8'), /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(labId, 'the run printed no lab id');
  assert.deepEqual((await listNetns()).filter((n) => n.startsWith(`${labId}-`)), [], 'namespaces left behind');
});
