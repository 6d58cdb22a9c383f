/**
 * The HAProxy peer under sidelane's capture, end to end: HAProxy (uid 1337, transparent binds, original
 * destination) carries keep-alive load and a connection burst between the pods, creates no conntrack entry, and
 * traffic demonstrably crosses both HAProxy sidecars (their descriptors grow with held connections).
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

test('bench --quick through HAProxy: load passes both sidecars, conntrack stays empty, nothing left behind', async (t) => {
  if (!netnsAvailable(t)) return;
  const dir = mkdtempSync(path.join(tmpdir(), 'sidelane-bench-haproxy-'));
  let labId: string | undefined;
  try {
    const json = path.join(dir, 'result.json');
    const r = await runBenchCli(
      ['--quick', '--modes', 'haproxy', '--scenarios', 'keep-alive,idle-connections,conntrack', '--duration', '1s', '--idle-connections', '200', '--burst-connections', '200', '--json', json],
      50_000,
    );
    labId = r.labId;
    assert.equal(r.code, 0, `bench failed:\n${r.stderr.slice(-3000)}`);
    assert.deepEqual(r.leftStateFiles, []);
    const result = JSON.parse(readFileSync(json, 'utf8')) as BenchResult;
    const cell = (scenario: string) => result.cells.find((c) => c.scenario === scenario)!;
    assert.ok(cell('keep-alive').metrics.rps! > 100, `keep-alive through HAProxy: ${cell('keep-alive').metrics.rps}`);
    assert.ok(cell('keep-alive').metrics.proxy_cpu_cores! > 0, 'HAProxy used no CPU: traffic did not pass through it');
    assert.ok(cell('idle-connections').metrics.fds_per_conn! >= 1, 'each held connection must hold sockets in both sidecars');
    assert.equal(cell('conntrack').metrics.per1000, 0);
    assert.equal(cell('conntrack').metrics.client_table, 0);
    assert.equal(cell('conntrack').metrics.server_table, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(labId);
  assert.deepEqual((await listNetns()).filter((n) => n.startsWith(`${labId}-`)), []);
});
