import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatResponseFlags, parseResponseFlags, ResponseFlag } from '../../../src/http/response-flags';
import { RequestMatcher, type MatchInput } from '../../../src/http/route-match';
import { RouteTable, Route } from '../../../src/http/route-table';
import { DEFAULT_RETRY, RetryPolicy } from '../../../src/http/retry-policy';
import { downstreamResponseHeaders, upstreamRequestHeaders } from '../../../src/http/headers';
import { seededRandom } from '../../../src/upstream/random-source';

function input(path: string, headers: Record<string, string> = {}, method = 'GET', authority = 'a'): MatchInput {
  const q = path.indexOf('?');
  const query = new URLSearchParams(q < 0 ? '' : path.slice(q + 1));
  return { method, path, pathOnly: q < 0 ? path : path.slice(0, q), authority, header: (n) => headers[n], queryParam: (n) => query.get(n) ?? undefined };
}

test('response flags print in Envoy order, "-" when none', () => {
  assert.equal(formatResponseFlags(0), '-');
  assert.equal(formatResponseFlags(ResponseFlag.URX | ResponseFlag.UF), 'UF,URX');
  assert.equal(formatResponseFlags(ResponseFlag.NR), 'NR');
  assert.equal(formatResponseFlags(ResponseFlag.DC | ResponseFlag.UT | ResponseFlag.UH), 'UH,UT,DC');
  assert.equal(parseResponseFlags('UF,URX'), ResponseFlag.UF | ResponseFlag.URX);
  assert.equal(parseResponseFlags('-'), 0);
});

test('path matching: prefix sees the query, exact and regex do not; regex matches the whole path', () => {
  assert.ok(new RequestMatcher({ uri: { prefix: '/api' } }).matches(input('/api/v1?x=1')));
  assert.ok(!new RequestMatcher({ uri: { prefix: '/api' } }).matches(input('/ap')));
  assert.ok(new RequestMatcher({ uri: { exact: '/a' } }).matches(input('/a?x=1')));
  assert.ok(!new RequestMatcher({ uri: { exact: '/a' } }).matches(input('/a/')));
  assert.ok(new RequestMatcher({ uri: { regex: '/reviews/[0-9]+' } }).matches(input('/reviews/12?x')));
  assert.ok(!new RequestMatcher({ uri: { regex: '/reviews/[0-9]+' } }).matches(input('/reviews/12/x')), 'full match, not search');
});

test('headers, query parameters, method and authority; all conditions of a block must hold', () => {
  const m = new RequestMatcher({
    method: { exact: 'GET' },
    headers: { 'End-User': { exact: 'jason' }, 'x-canary': { present: true }, 'x-debug': { present: false } },
    queryParams: { v: { regex: 'v[23]' } },
  });
  assert.ok(m.matches(input('/?v=v2', { 'end-user': 'jason', 'x-canary': '' })));
  assert.ok(!m.matches(input('/?v=v2', { 'end-user': 'jason', 'x-canary': '', 'x-debug': '1' })), 'present: false');
  assert.ok(!m.matches(input('/?v=v2', { 'end-user': 'jason' })), 'present: true');
  assert.ok(!m.matches(input('/?v=v1', { 'end-user': 'jason', 'x-canary': '' })));
  assert.ok(!m.matches(input('/?v=v2', { 'end-user': 'jason', 'x-canary': '' }, 'POST')));
  assert.ok(new RequestMatcher({ headers: { 'user-agent': { prefix: 'curl/' } } }).matches(input('/', { 'user-agent': 'curl/8.0' })));
  assert.ok(new RequestMatcher({ authority: { regex: 'reviews(:9080)?' } }).matches(input('/', {}, 'GET', 'reviews:9080')));
});

const table = new RouteTable({
  name: '9080',
  virtualHosts: [
    {
      name: 'reviews:9080',
      domains: ['reviews', 'reviews:9080', 'Reviews.default'],
      service: 'reviews',
      routes: [
        { name: 'jason', match: [{ headers: { 'end-user': { exact: 'jason' } } }], origin: 'x', action: { kind: 'route', clusters: [{ cluster: 'v2', weight: 1 }], timeoutMs: 0, retry: DEFAULT_RETRY } },
        { name: 'split', match: [], origin: 'x', action: { kind: 'route', clusters: [{ cluster: 'v1', weight: 50 }, { cluster: 'v3', weight: 50 }], timeoutMs: 0, retry: DEFAULT_RETRY } },
      ],
    },
    { name: 'allow_any', domains: ['*'], routes: [{ name: 'allow_any', match: [], origin: 'x', action: { kind: 'direct', status: 502, body: '' } }] },
  ],
});

test('virtual hosts by authority, with and without port, case-insensitive; * is the catch-all', () => {
  assert.equal(table.findVirtualHost('reviews')?.name, 'reviews:9080');
  assert.equal(table.findVirtualHost('reviews:9080')?.name, 'reviews:9080');
  assert.equal(table.findVirtualHost('REVIEWS:9080')?.name, 'reviews:9080');
  assert.equal(table.findVirtualHost('reviews.default')?.name, 'reviews:9080');
  assert.equal(table.findVirtualHost('reviews:8080'), undefined, 'another port is another authority');
  assert.equal(table.findVirtualHost('ratings'), undefined);
  assert.equal(table.catchAll?.name, 'allow_any');
  assert.equal(table.virtualHostForService('reviews')?.name, 'reviews:9080');
});

test('routes are tried in order; weighted clusters split by weight (seeded)', () => {
  const vh = table.findVirtualHost('reviews')!;
  assert.equal(vh.match(input('/', { 'end-user': 'jason' }))?.name, 'jason');
  const split = vh.match(input('/'))!;
  assert.equal(split.name, 'split');
  const random = seededRandom(42);
  let v1 = 0;
  for (let i = 0; i < 10_000; i++) if (split.pickCluster(random).cluster === 'v1') v1 += 1;
  assert.ok(Math.abs(v1 - 5000) < 200, `50/50 within 2%: ${v1}`);
  const zero = new Route({ match: [], origin: 'x', action: { kind: 'route', clusters: [{ cluster: 'a', weight: 0 }, { cluster: 'b', weight: 100 }], timeoutMs: 0, retry: DEFAULT_RETRY } });
  for (let i = 0; i < 100; i++) assert.equal(zero.pickCluster(random).cluster, 'b', 'weight 0 is never picked');
});

test('retry conditions (Envoy semantics) and jittered exponential backoff', () => {
  const p = (retryOn: string[], codes: number[] = []) => new RetryPolicy({ ...DEFAULT_RETRY, retryOn, retriableStatusCodes: codes });
  assert.ok(p(['5xx']).retriableStatus(500));
  assert.ok(!p(['gateway-error']).retriableStatus(500));
  assert.ok(p(['gateway-error']).retriableStatus(503));
  assert.ok(p(['retriable-4xx']).retriableStatus(409));
  assert.ok(!p(['retriable-status-codes']).retriableStatus(503), 'no codes listed');
  assert.ok(p(['retriable-status-codes'], [418]).retriableStatus(418));
  assert.ok(p(['503']).retriableStatus(503), 'a status code in retryOn');
  assert.ok(p(['connect-failure']).retriableFailure('connect_failure'));
  assert.ok(!p(['connect-failure']).retriableFailure('reset'));
  assert.ok(p(['reset']).retriableFailure('reset'));
  assert.ok(p(['5xx']).retriableFailure('per_try_timeout'));
  assert.ok(p(['gateway-error']).retriableFailure('connect_failure'));
  assert.ok(!p(['retriable-4xx']).retriableFailure('connect_failure'));
  const istio = new RetryPolicy(DEFAULT_RETRY);
  assert.ok(istio.retriableFailure('connect_failure') && !istio.retriableStatus(503) && !istio.retriableFailure('reset'));
  const r = seededRandom(5);
  for (let n = 1; n <= 6; n++) {
    for (let i = 0; i < 50; i++) {
      const d = istio.backoffMs(n, r);
      assert.ok(d >= 0 && d < Math.min((2 ** n - 1) * 25, 250), `retry ${n}: ${d}`);
    }
  }
});

test('request headers: hop-by-hop and Connection-listed headers dropped, request id and x-forwarded-proto added', () => {
  const out = upstreamRequestHeaders(
    ['Host', 'a', 'Connection', 'keep-alive, X-Secret', 'X-Secret', 's', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Transfer-Encoding', 'chunked', 'Expect', '100-continue', 'X-Forwarded-For', '1.2.3.4', 'Cookie', 'a', 'Cookie', 'b'],
    'keep-alive, X-Secret',
    'rid',
    true,
    true,
  );
  assert.deepEqual(out, ['Host', 'a', 'X-Forwarded-For', '1.2.3.4', 'Cookie', 'a', 'Cookie', 'b', 'x-request-id', 'rid', 'x-forwarded-proto', 'http']);
  assert.deepEqual(upstreamRequestHeaders(['x-request-id', 'mine', 'x-forwarded-proto', 'https'], undefined, 'mine', false, false), ['x-request-id', 'mine', 'x-forwarded-proto', 'https']);
});

test('response headers: hop-by-hop dropped, duplicates and order kept', () => {
  const raw = ['Set-Cookie', 'a=1', 'Connection', 'close, X-Hop', 'X-Hop', '1', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'b=2'];
  assert.deepEqual(downstreamResponseHeaders(raw), ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
});
