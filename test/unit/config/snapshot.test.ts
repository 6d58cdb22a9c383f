import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfigFile, parseConfig } from '../../../src/config/loader';
import { addressKey, buildSnapshot, DEFAULT_SNAPSHOT_OPTIONS } from '../../../src/config/snapshot';
import { configDump } from '../../../src/admin/config-dump';
import { assertGolden, fixture } from '../../support/golden';

const bookinfo = () => buildSnapshot(loadConfigFile(fixture('config/bookinfo.yaml')), DEFAULT_SNAPSHOT_OPTIONS);

test('the bookinfo configuration compiles to the checked-in config dump (golden)', () => {
  const dump = configDump(bookinfo(), { version: 1, source: 'test/fixtures/config/bookinfo.yaml' });
  assertGolden('bookinfo.config_dump.json', `${JSON.stringify(dump, null, 2)}\n`);
});

test('clusters follow Istio names: per service port, per declared subset, plus the special ones', () => {
  const names = bookinfo().clusters.map((c) => c.name);
  for (const n of [
    'outbound|9080||reviews.default.svc.cluster.local',
    'outbound|9080|v1|reviews.default.svc.cluster.local',
    'outbound|9080|v2|reviews.default.svc.cluster.local',
    'outbound|9080|v3|reviews.default.svc.cluster.local',
    'outbound|3306||mysqldb.default.svc.cluster.local',
    'inbound|9080||',
    'PassthroughCluster',
    'BlackHoleCluster',
    'InboundPassthroughCluster',
  ]) {
    assert.ok(names.includes(n), `missing cluster ${n}`);
  }
  const v2 = bookinfo().clusters.find((c) => c.name === 'outbound|9080|v2|reviews.default.svc.cluster.local')!;
  assert.deepEqual(v2.endpoints.map((e) => e.address), ['198.18.0.13']);
  assert.deepEqual(v2.outlierDetection?.consecutive5xx, 5, 'subset clusters inherit the service settings');
});

test('virtual host domains: FQDN, short names, the address, each with and without the port', () => {
  const rc = bookinfo().routeConfigs.find((r) => r.name === '9080')!;
  const vh = rc.virtualHosts.find((v) => v.name === 'reviews.default.svc.cluster.local:9080')!;
  assert.deepEqual(vh.domains, [
    'reviews.default.svc.cluster.local',
    'reviews.default.svc.cluster.local:9080',
    'reviews.default.svc',
    'reviews.default.svc:9080',
    'reviews.default',
    'reviews.default:9080',
    'reviews',
    'reviews:9080',
    '198.19.0.12',
    '198.19.0.12:9080',
  ]);
  assert.equal(rc.virtualHosts.at(-1)!.name, 'allow_any');
});

test('a bare short name is only given to the service in the workload namespace', () => {
  const snap = buildSnapshot(
    parseConfig(
      `workload: {namespace: prod}
services:
  - {host: web.prod.svc.cluster.local, ports: [{port: 80, protocol: HTTP}]}
  - {host: web.test.svc.cluster.local, ports: [{port: 80, protocol: HTTP}]}
`,
      'm.yaml',
    ),
  );
  const [prod, other] = snap.routeConfigs[0]!.virtualHosts;
  assert.ok(prod!.domains.includes('web'));
  assert.ok(!other!.domains.includes('web'));
  assert.ok(other!.domains.includes('web.test'));
});

test('REGISTRY_ONLY: HTTP catch-all answers 502 (block_all) and unknown TCP goes to the BlackHoleCluster', () => {
  const snap = buildSnapshot(parseConfig('outboundTrafficPolicy: REGISTRY_ONLY\nservices:\n  - {host: a, ports: [{port: 80, protocol: HTTP}]}\n', 'm.yaml'));
  const block = snap.routeConfigs[0]!.virtualHosts.at(-1)!;
  assert.equal(block.name, 'block_all');
  assert.deepEqual(block.routes[0]!.action, { kind: 'direct', status: 502, body: '' });
  assert.equal(snap.outboundFallback.tcp[0]!.cluster, 'BlackHoleCluster');
  assert.equal(snap.outboundByPort.get(80)!.tcp[0]!.cluster, 'BlackHoleCluster');
});

test('a label-map subset without a declared name gets a cluster named after its values', () => {
  const snap = buildSnapshot(
    parseConfig(
      `services:
  - host: r
    ports: [{port: 9080, protocol: HTTP}]
    endpoints: [{address: 198.18.0.1, labels: {version: v1, track: canary}}, {address: 198.18.0.2, labels: {version: v2}}]
routes:
  - host: r
    http: [{route: [{subset: {version: v1, track: canary}}]}]
`,
      'm.yaml',
    ),
  );
  const c = snap.clusters.find((x) => x.name === 'outbound|9080|canary-v1|r');
  assert.ok(c, 'subset cluster created');
  assert.deepEqual(c.endpoints.map((e) => e.address), ['198.18.0.1']);
});

test('multi-port services: endpoint ports by name, targetPort, and lookups by endpoint address', () => {
  const snap = buildSnapshot(
    parseConfig(
      `services:
  - host: m
    addresses: [198.19.0.5]
    ports: [{port: 80, name: http, targetPort: 8080}, {port: 9000, name: tcp-admin}]
    endpoints: [{address: 198.18.0.7, ports: {tcp-admin: 9900}}]
`,
      'm.yaml',
    ),
  );
  assert.deepEqual(snap.clusters.find((c) => c.name === 'outbound|80||m')!.endpoints.map((e) => e.port), [8080]);
  assert.deepEqual(snap.clusters.find((c) => c.name === 'outbound|9000||m')!.endpoints.map((e) => e.port), [9900]);
  assert.equal(snap.outboundByAddress.get(addressKey('198.18.0.7', 8080))!.protocol, 'HTTP');
  assert.equal(snap.outboundByAddress.get(addressKey('198.18.0.7', 9900))!.protocol, 'TCP');
  assert.equal(snap.outboundByAddress.get(addressKey('198.19.0.5', 9000))!.tcp[0]!.cluster, 'outbound|9000||m');
});

test('defaults: Istio retry policy, LEAST_REQUEST, unlimited breakers, flags-provided timeouts', () => {
  const snap = buildSnapshot(parseConfig('services:\n  - {host: a, ports: [{port: 80, protocol: HTTP}], endpoints: [{address: 198.18.0.1}]}\n', 'm.yaml'), {
    ...DEFAULT_SNAPSHOT_OPTIONS,
    connectTimeoutMs: 1234,
  });
  const c = snap.clusters.find((x) => x.name === 'outbound|80||a')!;
  assert.equal(c.loadBalancer.policy, 'LEAST_REQUEST');
  assert.equal(c.connectTimeoutMs, 1234);
  assert.equal(c.circuitBreakers.maxConnections, 4294967295);
  const route = snap.routeConfigs[0]!.virtualHosts[0]!.routes[0]!;
  assert.equal(route.action.kind === 'route' && route.action.retry.attempts, 2);
  assert.equal(snap.inboundFallback.tcp[0]!.cluster, 'InboundPassthroughCluster');
});
