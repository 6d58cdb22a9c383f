/**
 * The admin API and `sidelane proxy-config` for the bookinfo test mesh: tables and JSON are checked in as golden
 * files; the command runs for real against an admin server on a free port.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfigFile } from '../../../src/config/loader';
import { DEFAULT_SNAPSHOT_OPTIONS } from '../../../src/config/snapshot';
import { AdminServer } from '../../../src/admin/admin-server';
import { registerRoutingEndpoints } from '../../../src/admin/routing-endpoints';
import { clustersJson } from '../../../src/admin/clusters-view';
import { configDump } from '../../../src/admin/config-dump';
import { clustersTable, endpointsTable, listenersTable, routesTable } from '../../../src/admin/proxy-config-view';
import { RoutingState } from '../../../src/sidecar/routing-state';
import { PlainConnector } from '../../../src/transport/connector';
import { ManualClock } from '../../../src/upstream/clock';
import { seededRandom } from '../../../src/upstream/random-source';
import { assertGolden, fixture } from '../../support/golden';

const root = process.env.SIDELANE_ROOT ?? path.resolve(__dirname, '../../../..');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');
const FILE = 'test/fixtures/config/bookinfo.yaml';

function bookinfoState(): RoutingState {
  const state = new RoutingState({ connector: new PlainConnector(), clock: new ManualClock(), random: seededRandom(1), bypassMark: 0x53a }, DEFAULT_SNAPSHOT_OPTIONS);
  state.apply(loadConfigFile(fixture('config/bookinfo.yaml')), FILE);
  return state;
}

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: 15_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('proxy-config tables for the bookinfo mesh (golden)', () => {
  const state = bookinfoState();
  const dump = configDump(state.current.snapshot, { version: 1, source: FILE });
  const live = clustersJson(state.current.clusters.values()).cluster_statuses;
  assertGolden('proxy-config/listeners.txt', listenersTable(dump, {}));
  assertGolden('proxy-config/listeners-port-15006.txt', listenersTable(dump, { port: 15006 }));
  assertGolden('proxy-config/routes.txt', routesTable(dump, {}));
  assertGolden('proxy-config/clusters.txt', clustersTable(dump, {}, live));
  assertGolden('proxy-config/clusters-port-9080-inbound.txt', clustersTable(dump, { port: 9080, direction: 'inbound' }, live));
  assertGolden('proxy-config/endpoints.txt', endpointsTable(live, {}));
  assertGolden('proxy-config/endpoints-ratings.txt', endpointsTable(live, { cluster: 'outbound|9080||ratings.default.svc.cluster.local' }));
});

test('the outlier state shows in the endpoints view', () => {
  const state = bookinfoState();
  const c = state.current.cluster('outbound|9080||reviews.default.svc.cluster.local')!;
  for (let i = 0; i < 5; i++) c.report(c.endpoints.all[1]!, 503);
  const dump = configDump(state.current.snapshot, { version: 1, source: FILE });
  void dump;
  const live = clustersJson(state.current.clusters.values()).cluster_statuses;
  const table = endpointsTable(live, { cluster: c.name });
  assert.match(table, /198\.18\.0\.13:9080\s+HEALTHY\s+FAILED\s+outbound\|9080\|\|reviews/);
  assert.equal(endpointsTable(live, { cluster: c.name, status: 'unhealthy' }).trim().split('\n').length, 2);
});

test('the admin server: help, config_dump, listeners, clusters (text and JSON), errors; proxy-config reads it', async () => {
  const state = bookinfoState();
  const admin = new AdminServer({ port: 0 });
  let reloads = 0;
  registerRoutingEndpoints(admin, state, { reload: () => ({ ok: true, message: `reloaded ${++reloads}` }) });
  await admin.start();
  const base = `http://127.0.0.1:${admin.port}`;
  try {
    const help = await (await fetch(`${base}/`)).text();
    for (const p of ['/config_dump', '/listeners', '/clusters', '/reload']) assert.ok(help.includes(p), `help lists ${p}`);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/reload`)).status, 405, 'reload is POST only');
    assert.equal(await (await fetch(`${base}/reload`, { method: 'POST' })).text(), 'reloaded 1\n');
    const dump = (await (await fetch(`${base}/config_dump`)).json()) as { configs: { '@type': string }[] };
    assert.deepEqual(dump.configs.map((c) => c['@type']), [
      'sidelane.admin.BootstrapConfigDump',
      'sidelane.admin.ListenersConfigDump',
      'sidelane.admin.RoutesConfigDump',
      'sidelane.admin.ClustersConfigDump',
    ]);
    const text = await (await fetch(`${base}/clusters`)).text();
    assert.match(text, /^outbound\|9080\|\|ratings\.default\.svc\.cluster\.local::198\.18\.0\.15:9080::health_flags::healthy$/m);
    assert.match(text, /^outbound\|3306\|\|mysqldb\.default\.svc\.cluster\.local::default_priority::max_connections::100$/m);
    assert.match(await (await fetch(`${base}/listeners`)).text(), /^virtualInbound::0\.0\.0\.0:15006$/m);

    const table = await run(['proxy-config', 'clusters', '--admin', base]);
    assert.equal(table.code, 0, table.stderr);
    const live = clustersJson(state.current.clusters.values()).cluster_statuses;
    assert.equal(table.stdout, clustersTable(configDump(state.current.snapshot, { version: 1, source: FILE }), {}, live));
    const json = await run(['proxy-config', 'clusters', '--admin', base, '--fqdn', 'reviews.default', '--subset', 'v2', '-o', 'json']);
    const clusters = JSON.parse(json.stdout) as { name: string }[];
    assert.deepEqual(clusters.map((c) => c.name), ['outbound|9080|v2|reviews.default.svc.cluster.local']);
    const routes = await run(['proxy-config', 'routes', '--admin', base, '--name', '9080', '-o', 'json']);
    assert.deepEqual((JSON.parse(routes.stdout) as { name: string }[]).map((r) => r.name), ['9080']);
    assertGolden('proxy-config/routes-9080.json', routes.stdout);
    const listeners = await run(['pc', 'listeners', '--admin', base, '--port', '15006']);
    assertGolden('proxy-config/listeners-port-15006.txt', listeners.stdout);
    const eps = await run(['proxy-config', 'endpoints', '--admin', base, '--cluster', 'outbound|9080||ratings.default.svc.cluster.local']);
    assertGolden('proxy-config/endpoints-ratings.txt', eps.stdout);
    const bad = await run(['proxy-config', 'clusters', '--admin', base, '-o', 'yaml']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /-o\/--output: expected one of table, json, got 'yaml'/);
  } finally {
    await admin.stop();
  }
  const down = await run(['proxy-config', 'listeners', '--admin', base]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
});
