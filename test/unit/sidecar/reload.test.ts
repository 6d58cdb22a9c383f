/**
 * Configuration reload on a running proxy: under a steady load of keep-alive requests nothing is lost, an invalid
 * file changes nothing, in-flight requests finish on the clusters they started with, kept clusters keep their pools.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigReloader } from '../../../src/config/reload';
import { parseConfig } from '../../../src/config/loader';
import { configDump } from '../../../src/admin/config-dump';
import { describeApply } from '../../../src/sidecar/routing-state';
import { request, startHarness, startUpstream } from '../../support/routing';

type Up = Awaited<ReturnType<typeof startUpstream>>;

function meshConfig(ups: Up[], subset: string, timeout = '5s'): string {
  return `services:
  - host: reviews.default.svc.cluster.local
    addresses: [198.19.0.12]
    ports: [{port: 9080, protocol: HTTP}]
    endpoints:
${ups.map((u, i) => `      - {address: 127.0.0.1, port: ${u.port}, labels: {version: v${i + 1}}}`).join('\n')}
    subsets: [{name: v1, labels: {version: v1}}, {name: v3, labels: {version: v3}}]
routes:
  - host: reviews.default.svc.cluster.local
    http: [{route: [{subset: ${subset}}], timeout: ${timeout}}]
`;
}

function withTempFile(): { file: string; write(text: string): void; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sl-reload-'));
  const file = path.join(dir, 'mesh.yaml');
  return {
    file,
    // Write-then-rename, as editors and ConfigMaps do: readers never see half a file.
    write: (text) => {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function startVersions(): Promise<Up[]> {
  return Promise.all(['v1', 'v2', 'v3'].map((v) => startUpstream((_q, s) => setTimeout(() => s.end(v), 2))));
}

test('reload under a steady keep-alive load loses no request; invalid files in between change nothing', async () => {
  const ups = await startVersions();
  const tmp = withTempFile();
  tmp.write(meshConfig(ups, 'v1'));
  const h = await startHarness(meshConfig(ups, 'v1'), { dst: { address: '198.19.0.12', port: 9080 } });
  const lines: string[] = [];
  const reloader = new ConfigReloader({
    file: tmp.file,
    apply: (cfg, trigger) => describeApply(h.state.apply(cfg, tmp.file, trigger)),
    refused: (m, trigger) => h.state.refused(m, tmp.file, trigger),
    log: (l) => lines.push(l),
    signal: null,
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let stop = false;
  const results = { ok: 0, failed: [] as string[], seen: new Set<string>() };
  const client = async (): Promise<void> => {
    while (!stop) {
      try {
        const r = await request(h.port, { headers: { host: 'reviews' }, agent });
        if (r.status === 200) {
          results.ok += 1;
          results.seen.add(r.body);
        } else results.failed.push(`${r.status} ${r.body}`);
      } catch (err) {
        results.failed.push(String(err));
      }
    }
  };
  try {
    const clients = Array.from({ length: 4 }, client);
    for (let i = 0; i < 12; i++) {
      // Reload between requests in flight, however fast this machine is today: at least 10 requests each time.
      const target = results.ok + 10;
      while (results.ok < target && results.failed.length === 0) await new Promise((r) => setTimeout(r, 5));
      if (i % 4 === 3) {
        tmp.write('services:\n  - host: reviews.default.svc.cluster.local\n    ports: [{port: 0}]\n');
        assert.equal(reloader.reload('signal').ok, false);
      } else {
        tmp.write(meshConfig(ups, i % 2 === 0 ? 'v3' : 'v1'));
        assert.equal(reloader.reload('signal').ok, true);
      }
    }
    stop = true;
    await Promise.all(clients);
    assert.deepEqual(results.failed, [], 'no request failed during reloads');
    assert.ok(results.ok > 100, `a steady load: ${results.ok} requests`);
    assert.deepEqual([...results.seen].sort(), ['v1', 'v3'], 'both configurations served');
    assert.equal(lines.filter((l) => l.includes('refused')).length, 3);
    assert.match(lines.find((l) => l.includes('refused'))!, /config reload refused \(signal\), keeping the running configuration: config .*mesh\.yaml:3:20: services\[0\]\.ports\[0\]\.port: expected a port number 1-65535, got 0/);
    // Unchanged clusters were kept: their pools carried the whole run on a handful of connections.
    const v1 = h.state.current.cluster('outbound|9080|v1|reviews.default.svc.cluster.local')!;
    assert.ok(v1.stats.upstream_cx_total <= 4, `v1 pool reused across reloads: ${v1.stats.upstream_cx_total} connections`);
    assert.equal(h.state.current.version, 10, '9 valid reloads after the first');
  } finally {
    stop = true;
    agent.destroy();
    await h.close();
    tmp.cleanup();
    await Promise.all(ups.map((u) => u.close()));
  }
});

test('an invalid reload changes nothing: same version, same dump, the error kept for the admin view', async () => {
  const ups = await startVersions();
  const tmp = withTempFile();
  tmp.write(meshConfig(ups, 'v1'));
  const h = await startHarness(meshConfig(ups, 'v1'));
  const reloader = new ConfigReloader({
    file: tmp.file,
    apply: (cfg, trigger) => describeApply(h.state.apply(cfg, tmp.file, trigger)),
    refused: (m, trigger) => h.state.refused(m, tmp.file, trigger),
    log: () => undefined,
    signal: null,
  });
  try {
    const before = h.state.current;
    const dumpBefore = JSON.stringify(configDump(before.snapshot, { version: before.version, source: 'x' }));
    tmp.write(`${meshConfig(ups, 'v9')}`);
    const r = reloader.reload('signal');
    assert.equal(r.ok, false);
    assert.match(r.message, /routes\[0\]\.http\[0\]\.route\[0\]\.subset: service reviews\.default\.svc\.cluster\.local has no subset v9/);
    assert.equal(h.state.current, before, 'the same routing object');
    assert.equal(JSON.stringify(configDump(h.state.current.snapshot, { version: h.state.current.version, source: 'x' })), dumpBefore);
    assert.match(h.state.lastError!.message, /no subset v9/);
    assert.equal((await request(h.port, { headers: { host: 'reviews' } })).body, 'v1', 'still serving');
    tmp.write(meshConfig(ups, 'v3'));
    assert.equal(reloader.reload('signal').ok, true);
    assert.equal(h.state.lastError, undefined);
    assert.equal((await request(h.port, { headers: { host: 'reviews' } })).body, 'v3');
  } finally {
    await h.close();
    tmp.cleanup();
    await Promise.all(ups.map((u) => u.close()));
  }
});

test('an in-flight request finishes on the cluster it started with, even when a reload replaces that cluster', async () => {
  const slow = await startUpstream((_q, s) => setTimeout(() => s.end('finished'), 300));
  const cfg = (connectTimeout: string) =>
    `services:\n  - {host: s, addresses: [198.19.0.1], ports: [{port: 9080, protocol: HTTP}], endpoints: [{address: 127.0.0.1, port: ${slow.port}}], connectTimeout: ${connectTimeout}}\n`;
  const h = await startHarness(cfg('1s'));
  try {
    const old = h.state.current.cluster('outbound|9080||s')!;
    const inflight = request(h.port, { headers: { host: 's' } });
    while (old.stats.upstream_rq_active === 0) await new Promise((r) => setTimeout(r, 5));
    const outcome = h.state.apply(parseConfig(cfg('2s'), 'x'), 'x', 'signal');
    assert.deepEqual(outcome.clusters.replaced, ['outbound|9080||s']);
    assert.equal(old.retired, true);
    const r = await inflight;
    assert.deepEqual([r.status, r.body], [200, 'finished']);
    assert.equal(old.stats.upstream_rq_active, 0);
    assert.equal(old.endpoints.all[0]!.pool, undefined, 'the retired cluster closed its pool once idle');
    const next = h.state.current.cluster('outbound|9080||s')!;
    assert.notEqual(next, old);
    assert.equal((await request(h.port, { headers: { host: 's' } })).body, 'finished');
    assert.equal(next.stats.upstream_rq_total, 1);
  } finally {
    await h.close();
    await slow.close();
  }
});

test('file changes are picked up (debounced), SIGHUP reloads, unchanged content is skipped', async () => {
  const ups = await startVersions();
  const tmp = withTempFile();
  tmp.write(meshConfig(ups, 'v1'));
  const h = await startHarness(meshConfig(ups, 'v1'));
  const lines: string[] = [];
  const reloader = new ConfigReloader({
    file: tmp.file,
    apply: (cfg, trigger) => describeApply(h.state.apply(cfg, tmp.file, trigger)),
    refused: (m, trigger) => h.state.refused(m, tmp.file, trigger),
    log: (l) => lines.push(l),
    debounceMs: 50,
  });
  reloader.start();
  const until = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(cond(), `condition not reached; log: ${lines.join(' | ')}`);
  };
  try {
    tmp.write(meshConfig(ups, 'v3'));
    await until(() => lines.some((l) => l.includes('(file)')));
    assert.match(lines.at(-1)!, /config reloaded from .*mesh\.yaml \(file\): version 2; clusters: 0 added, 0 replaced, \d+ kept, 0 removed/);
    assert.equal((await request(h.port, { headers: { host: 'reviews' } })).body, 'v3');
    assert.equal(reloader.reload('file').changed, false, 'same content: nothing to do');
    process.kill(process.pid, 'SIGHUP');
    await until(() => lines.some((l) => l.includes('(signal)')));
    assert.equal(h.state.current.version, 3);
  } finally {
    reloader.stop();
    await h.close();
    tmp.cleanup();
    await Promise.all(ups.map((u) => u.close()));
  }
});

test('a keep-alive connection whose port stops being HTTP finishes on its old configuration and is closed', async () => {
  const ups = await startVersions();
  const http1 = meshConfig(ups, 'v1');
  const h = await startHarness(http1, { dst: { address: '198.19.0.12', port: 9080 } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const a = await request(h.port, { headers: { host: 'reviews' }, agent });
    assert.notEqual(a.headers.connection, 'close', 'kept alive');
    h.state.apply(parseConfig(http1.replace('protocol: HTTP', 'protocol: TCP').replace(/routes:[\s\S]*$/, ''), 'x'), 'x', 'signal');
    const b = await request(h.port, { headers: { host: 'reviews' }, agent });
    assert.deepEqual([b.status, b.body, b.headers.connection], [200, 'v1', 'close'], 'served by the old routes, then closed');
  } finally {
    agent.destroy();
    await h.close();
    await Promise.all(ups.map((u) => u.close()));
  }
});
