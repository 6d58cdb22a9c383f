import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlainConnector } from '../../../src/transport/connector';
import { clientAddr, origDst } from '../../../src/transport/address';
import { Cluster, type ClusterSpec, type DownstreamAddresses } from '../../../src/upstream/cluster';
import { ClusterManager, settingsKey } from '../../../src/upstream/cluster-manager';
import { DEFAULT_LIMITS } from '../../../src/upstream/circuit-breaker';
import { ManualClock } from '../../../src/upstream/clock';
import { seededRandom } from '../../../src/upstream/random-source';

const deps = { connector: new PlainConnector(), clock: new ManualClock(), random: seededRandom(1), bypassMark: 0x53a };

function spec(over: Partial<ClusterSpec> = {}): ClusterSpec {
  return {
    name: 'outbound|80||a',
    type: 'EDS',
    direction: 'outbound',
    service: 'a',
    port: 80,
    protocol: 'HTTP',
    endpoints: [
      { address: '198.18.0.1', port: 80, labels: {}, weight: 1 },
      { address: '198.18.0.2', port: 80, labels: {}, weight: 1 },
    ],
    loadBalancer: { policy: 'ROUND_ROBIN' },
    connectTimeoutMs: 1000,
    idleTimeoutMs: 60_000,
    maxRequestsPerConnection: 0,
    circuitBreakers: DEFAULT_LIMITS,
    sourceMode: 'none',
    ...over,
  };
}

function conn(dst = '10.1.2.3', port = 8080, client = '198.18.0.50'): DownstreamAddresses {
  return { origDst: origDst(dst, port), client: clientAddr(client, 40000) };
}

test('pending queue: a request waits for a slot and gets it when one is released, in order', () => {
  const c = new Cluster(spec({ circuitBreakers: { ...DEFAULT_LIMITS, maxConnections: 1, maxPendingRequests: 2 } }), deps);
  const order: string[] = [];
  const w = (n: string) => ({ admitted: () => order.push(n) });
  assert.equal(c.admit(w('a')), 'admitted');
  const b = w('b');
  assert.equal(c.admit(b), 'pending');
  assert.equal(c.admit(w('c')), 'pending');
  assert.equal(c.admit(w('d')), 'overflow_pending');
  assert.equal(c.stats.upstream_rq_pending_overflow, 1);
  assert.equal(c.stats.upstream_cx_overflow, 2);
  c.cancelPending(b);
  assert.equal(c.stats.upstream_rq_pending_active, 1);
  c.release();
  assert.deepEqual(order, ['c']);
  assert.equal(c.stats.upstream_rq_active, 1);
  c.release();
  assert.equal(c.stats.upstream_rq_active, 0);
  assert.equal(c.stats.upstream_rq_completed, 2);
});

test('pick avoids the previous endpoint when another is healthy (retry host predicate)', () => {
  const c = new Cluster(spec({ loadBalancer: { policy: 'RANDOM' } }), deps);
  const first = c.pick(conn(), undefined)!;
  for (let i = 0; i < 20; i++) assert.notEqual(c.pick(conn(), undefined, first), first);
});

test('ORIGINAL_DST: one endpoint per destination (and source when preserved); connect request carries source and mark', () => {
  const c = new Cluster(spec({ name: 'inbound|8080||', type: 'ORIGINAL_DST', direction: 'inbound', endpoints: [], sourceMode: 'client' }), deps);
  const a = c.pick(conn('10.1.2.3', 8080, '198.18.0.50'), undefined)!;
  assert.equal(c.pick(conn('10.1.2.3', 8080, '198.18.0.50'), undefined), a);
  const b = c.pick(conn('10.1.2.3', 8080, '198.18.0.51'), undefined)!;
  assert.notEqual(a, b);
  assert.deepEqual(c.connectRequest(a), {
    target: a.address,
    // The client's own address, with a port below the ephemeral range (never one the client uses next).
    source: { address: '198.18.0.50', portRange: { min: 1024, max: 32767 } },
    transparent: true,
    mark: 0x53a,
    timeoutMs: 1000,
  });
  const p = new Cluster(spec({ name: 'inbound|8080||', type: 'ORIGINAL_DST', endpoints: [], sourceMode: 'inbound-passthrough' }), deps);
  assert.equal(p.pick(conn('10.1.2.3'), undefined)!.source, '127.0.0.6');
  assert.equal(p.pick(conn('2001:db8::5'), undefined)!.source, '::6');
  void c.destroy();
  void p.destroy();
});

test('STATIC with no endpoints (BlackHoleCluster) never yields an endpoint', () => {
  const c = new Cluster(spec({ name: 'BlackHoleCluster', type: 'STATIC', endpoints: [] }), deps);
  assert.equal(c.pick(conn(), undefined), undefined);
});

test('reconcile: unchanged clusters are kept (counters, outlier state), changed ones replaced and the old retired', () => {
  const m = new ClusterManager(deps);
  const first = m.reconcile([spec(), spec({ name: 'outbound|81||b', port: 81 })]);
  const a = first.clusters.get('outbound|80||a')!;
  a.stats.upstream_rq_total = 7;
  a.endpoints.all[0]!.timesEjected = 2;
  const second = m.reconcile([
    spec({ endpoints: [{ address: '198.18.0.1', port: 80, labels: { v: '2' }, weight: 1 }, { address: '198.18.0.3', port: 80, labels: {}, weight: 1 }] }),
    spec({ name: 'outbound|81||b', port: 81, connectTimeoutMs: 5 }),
  ]);
  assert.deepEqual(second.result, { added: [], replaced: ['outbound|81||b'], kept: ['outbound|80||a'], removed: [] });
  const a2 = second.clusters.get('outbound|80||a')!;
  assert.equal(a2, a, 'same object');
  assert.equal(a2.stats.upstream_rq_total, 7);
  assert.deepEqual(a2.endpoints.all.map((e) => e.key), ['198.18.0.1:80', '198.18.0.3:80']);
  assert.equal(a2.endpoints.all[0]!.timesEjected, 2, 'a persisting endpoint keeps its outlier history');
  assert.deepEqual(a2.endpoints.all[0]!.labels, { v: '2' });
  assert.equal(first.clusters.get('outbound|81||b')!.retired, true);
  assert.notEqual(second.clusters.get('outbound|81||b'), first.clusters.get('outbound|81||b'));
  const third = m.reconcile([]);
  assert.deepEqual(third.result.removed, ['outbound|80||a', 'outbound|81||b']);
  assert.equal(a.retired, true);
  assert.notEqual(settingsKey(spec()), settingsKey(spec({ loadBalancer: { policy: 'RANDOM' } })));
  assert.equal(settingsKey(spec()), settingsKey(spec({ endpoints: [] })), 'endpoints are not settings');
});
