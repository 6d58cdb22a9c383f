import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../../src/upstream/clock';
import { ClusterStats } from '../../../src/upstream/cluster-stats';
import { EndpointSet } from '../../../src/upstream/endpoint-set';
import { LOCAL_ORIGIN_FAILURE, OutlierDetector, type OutlierSettings } from '../../../src/upstream/outlier-detection';

function setup(settings: Partial<OutlierSettings> = {}, n = 2) {
  const clock = new ManualClock(1000);
  const set = new EndpointSet(Array.from({ length: n }, (_, i) => ({ address: `198.18.0.${i + 1}`, port: 80, labels: {}, weight: 1 })));
  const stats = new ClusterStats();
  const od = new OutlierDetector(
    { consecutive5xx: 3, consecutiveGateway: 0, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 100, ...settings },
    clock,
    set,
    stats,
  );
  return { clock, set, stats, od, a: set.all[0]!, b: set.all[1]! };
}

test('consecutive 5xx eject; a success in between resets the count', () => {
  const { od, a, set, stats } = setup();
  od.report(a, 500);
  od.report(a, 503);
  od.report(a, 200);
  od.report(a, 500);
  od.report(a, 500);
  assert.equal(a.ejected, false);
  od.report(a, 502);
  assert.equal(a.ejected, true);
  assert.deepEqual(set.healthy.map((e) => e.key), ['198.18.0.2:80']);
  assert.equal(stats.outlier_detection_ejections_total, 1);
  assert.equal(stats.outlier_detection_ejections_active, 1);
  assert.equal(stats.outlier_detection_ejections_consecutive_5xx, 1);
});

test('local-origin failures (connect failure, reset, timeout) count as gateway errors', () => {
  const { od, a, stats } = setup({ consecutive5xx: 0, consecutiveGateway: 2 });
  od.report(a, 500); // not a gateway error
  od.report(a, LOCAL_ORIGIN_FAILURE);
  assert.equal(a.ejected, false);
  od.report(a, 504);
  assert.equal(a.ejected, true);
  assert.equal(stats.outlier_detection_ejections_consecutive_gateway_failure, 1);
});

test('ejection lasts baseEjectionTime × times ejected, and the endpoint returns on time', () => {
  const { od, a, clock, set, stats } = setup();
  const fail = (): void => {
    for (let i = 0; i < 3; i++) od.report(a, 500);
  };
  fail();
  assert.equal(a.ejectedUntil, 1000 + 30_000);
  clock.advance(29_999);
  od.refresh();
  assert.equal(a.ejected, true);
  clock.advance(1);
  od.refresh();
  assert.equal(a.ejected, false, 'back after 30 s');
  assert.equal(set.healthy.length, 2);
  assert.equal(stats.outlier_detection_unejections_total, 1);
  assert.equal(stats.outlier_detection_ejections_active, 0);
  fail(); // immediately again: second ejection, 60 s
  assert.equal(a.timesEjected, 2);
  assert.equal(a.ejectedUntil - clock.now(), 60_000);
  clock.advance(60_000);
  od.refresh();
  // Healthy for three intervals: two past ejections forgiven, the next one is short again.
  clock.advance(30_000);
  fail();
  assert.equal(a.timesEjected, 1);
  assert.equal(a.ejectedUntil - clock.now(), 30_000);
});

test('maxEjectionTime caps the backoff', () => {
  const { od, a, clock } = setup({ maxEjectionMs: 45_000 });
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 3; i++) od.report(a, 500);
    const d = a.ejectedUntil - clock.now();
    assert.equal(d, Math.min(30_000 * (round + 1), 45_000));
    clock.advance(d);
    od.refresh();
  }
});

test('maxEjectionPercent: never eject more than the allowed share; overflow is counted', () => {
  const { od, set, stats } = setup({ maxEjectionPercent: 50 }, 4);
  for (const ep of set.all) for (let i = 0; i < 3; i++) od.report(ep, 500);
  assert.equal(set.all.filter((e) => e.ejected).length, 2, '2 of 4 = 50%');
  assert.equal(stats.outlier_detection_ejections_overflow, 2);
  const one = setup({ maxEjectionPercent: 10 }, 2);
  for (let i = 0; i < 3; i++) one.od.report(one.a, 500);
  assert.equal(one.a.ejected, false, 'one of two is 50% > 10%');
});
