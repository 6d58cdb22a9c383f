import assert from 'node:assert/strict';
import { test } from 'node:test';
import { meshRoutes } from '../../../src/demo/mesh-config';
import { planMesh } from '../../../src/demo/mesh-plan';
import { judge, type RequestOutcome } from '../../../src/demo/traffic-client';
import { binomialTolerance, countVersions, expectedShares, percentile } from '../../../src/demo/traffic-split';
import { shippedManifest } from './support';

const REVIEWS = 'reviews.default.svc.cluster.local';

test('expected shares come from the generated routes: 50/50 v1/v3 for everyone, v2 for jason', () => {
  const m = shippedManifest();
  const routes = meshRoutes(m, planMesh(m));
  assert.deepEqual(expectedShares(routes, REVIEWS), { v1: 50, v3: 50 });
  assert.deepEqual(expectedShares(routes, REVIEWS, { 'end-user': 'jason' }), { v2: 100 });
  assert.deepEqual(expectedShares(routes, REVIEWS, { 'end-user': 'jasonx' }), { v1: 50, v3: 50 });
  assert.equal(expectedShares(routes, 'ratings.default.svc.cluster.local'), undefined);
});

test('shares follow relative weights, unweighted destinations split equally, and the first matching route wins', () => {
  const routes: Parameters<typeof expectedShares>[0] = [
    {
      host: 'h',
      http: [
        { match: [{ headers: { x: { prefix: 'a' } } }, { headers: { y: { present: true } } }], route: [{ subset: 'a' }, { subset: 'b' }] },
        { match: [{ uri: { prefix: '/' } }], route: [{ subset: 'never-evaluated' }] },
        { route: [{ destination: { subset: 'c' }, weight: 1 }, { destination: { subset: 'd' }, weight: 3 }] },
      ],
    },
  ];
  assert.deepEqual(expectedShares(routes, 'h', { x: 'abc' }), { a: 50, b: 50 });
  assert.deepEqual(expectedShares(routes, 'h', { y: '' }), { a: 50, b: 50 });
  assert.deepEqual(expectedShares(routes, 'h', {}), { c: 25, d: 75 });
});

test('counts, percentiles and the 5σ band', () => {
  const o = (version: string | null, ms: number): RequestOutcome => ({ user: null, ok: true, status: 200, version, ratings: false, ms });
  assert.deepEqual(countVersions([o('v1', 1), o('v3', 2), o('v1', 3), o(null, 4)]), { v1: 2, v3: 1 });
  const ms = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(ms, 50), 50);
  assert.equal(percentile(ms, 99), 99);
  assert.equal(percentile(ms, 100), 100);
  assert.equal(percentile([], 50), 0);
  assert.equal(binomialTolerance(200, 50), 36); // 5 × √(200 × ¼) = 35.4
  assert.equal(binomialTolerance(400, 50), 50);
  assert.equal(binomialTolerance(20, 100), 0); // a certain outcome allows no deviation
});

test('an answer succeeds only with details, reviews and (from v2/v3) ratings', () => {
  const body = (version: string, stars: boolean, details = 200) =>
    JSON.stringify({ detailsStatus: details, reviewsStatus: 200, reviews: { version, reviews: [{ rating: stars ? { stars: 5 } : { error: 'Ratings service is currently unavailable (503)' } }] } });
  assert.equal(judge(200, body('v3', true), null, 1).ok, true);
  assert.equal(judge(200, JSON.stringify({ detailsStatus: 200, reviewsStatus: 200, reviews: { version: 'v1', reviews: [{}, {}] } }), null, 1).ok, true);
  const noRatings = judge(200, body('v2', false), 'jason', 1);
  assert.equal(noRatings.ok, false);
  assert.match(noRatings.error!, /reviews v2 had no ratings \(Ratings service is currently unavailable \(503\)\)/);
  assert.match(judge(200, body('v3', true, 503), null, 1).error!, /details answered 503/);
  assert.deepEqual(judge(502, '', null, 2.345), { user: null, status: 502, ms: 2.35, ok: false, version: null, ratings: false, error: 'productpage answered 502: ' });
  assert.match(judge(200, '<html>', null, 1).error!, /no JSON/);
});
