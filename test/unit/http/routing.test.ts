/**
 * Per-request routing through the HTTP connection manager with real servers: Host matching, header/path/query
 * matches, weighted subsets, keep-alive on both sides, headers, bodies, consistent hashing, passthrough.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { seededRandom } from '../../../src/upstream/random-source';
import { captureHttpEvents, forEachDataPath, request, startHarness, startUpstream } from '../../support/routing';

type Up = Awaited<ReturnType<typeof startUpstream>>;

async function versions(): Promise<Up[]> {
  return Promise.all(
    ['v1', 'v2', 'v3'].map((v) =>
      startUpstream((q, s) => {
        s.setHeader('x-version', v);
        s.end(JSON.stringify({ v, url: q.url, host: q.headers.host, id: q.headers['x-request-id'], xfp: q.headers['x-forwarded-proto'], xff: q.headers['x-forwarded-for'] ?? null }));
      }),
    ),
  );
}

function reviews(ups: Up[], routes: string, extra = ''): string {
  return `
workload: {namespace: default}
services:
  - host: reviews.default.svc.cluster.local
    addresses: [198.19.0.12]
    ports: [{port: 9080, name: http}]
    endpoints:
${ups.map((u, i) => `      - {address: 127.0.0.1, port: ${u.port}, labels: {app: reviews, version: v${i + 1}}}`).join('\n')}
    subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]
${extra}
routes:
  - host: reviews.default.svc.cluster.local
    http:
${routes}
`;
}

const BOOKINFO_ROUTES = `      - match: [{headers: {end-user: {exact: jason}}}]
        route: [{subset: v2}]
      - route: [{subset: v1, weight: 50}, {subset: v3, weight: 50}]
`;

forEachDataPath('the seed walkthrough: end-user jason → v2, everyone else 50/50 between v1 and v3 (seeded, ±5% over 2000)', async (_t, dataPath) => {
  const ups = await versions();
  const h = await startHarness(reviews(ups, BOOKINFO_ROUTES), { dataPath, dst: { address: '198.19.0.12', port: 9080 }, random: seededRandom(11) });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    for (let i = 0; i < 20; i++) {
      const r = await request(h.port, { headers: { host: 'reviews:9080', 'end-user': 'jason' }, agent });
      assert.equal(r.headers['x-version'], 'v2');
    }
    const counts: Record<string, number> = {};
    const batch = async (): Promise<void> => {
      const r = await request(h.port, { headers: { host: 'reviews:9080' }, agent });
      counts[r.headers['x-version'] as string] = (counts[r.headers['x-version'] as string] ?? 0) + 1;
    };
    for (let i = 0; i < 2000; i += 8) await Promise.all(Array.from({ length: 8 }, batch));
    assert.equal(counts.v2, undefined, 'v2 only for jason');
    assert.ok(Math.abs(counts.v1! - 1000) <= 100, `v1 ${counts.v1} of 2000`);
    assert.ok(Math.abs(counts.v3! - 1000) <= 100, `v3 ${counts.v3} of 2000`);
    // Keep-alive on both sides: few downstream connections, few upstream connections.
    const v1 = h.state.current.cluster('outbound|9080|v1|reviews.default.svc.cluster.local')!;
    assert.ok(v1.stats.upstream_cx_total <= 8, `upstream connections are pooled: ${v1.stats.upstream_cx_total}`);
    assert.equal(v1.stats.upstream_rq_total, counts.v1);
  } finally {
    agent.destroy();
    await h.close();
    await Promise.all(ups.map((u) => u.close()));
  }
});

forEachDataPath('Host matching: FQDN, short names, with and without port, the service address; unknown Host falls back to the destination service', async (_t, dataPath) => {
  const ups = await versions();
  const h = await startHarness(reviews(ups, '      - route: [{subset: v1}]\n'), { dataPath, dst: { address: '198.19.0.12', port: 9080 } });
  try {
    for (const host of ['reviews.default.svc.cluster.local', 'reviews.default.svc.cluster.local:9080', 'reviews.default.svc', 'reviews.default', 'reviews', 'reviews:9080', 'REVIEWS:9080', '198.19.0.12:9080']) {
      const r = await request(h.port, { headers: { host } });
      assert.equal(r.headers['x-version'], 'v1', host);
      assert.equal(JSON.parse(r.body).host, host, 'the Host header is passed on unchanged');
    }
    const other = await request(h.port, { headers: { host: 'www.example.com' } });
    assert.equal(other.headers['x-version'], 'v1', 'by original destination');
  } finally {
    await h.close();
    await Promise.all(ups.map((u) => u.close()));
  }
});

forEachDataPath('path exact/prefix/regex, query parameters and method select routes; first match wins', async (_t, dataPath) => {
  const ups = await versions();
  const routes = `      - match: [{uri: {exact: /exact}}]
        route: [{subset: v1}]
      - match: [{uri: {regex: '/reviews/[0-9]+'}, method: {exact: GET}}]
        route: [{subset: v2}]
      - match: [{queryParams: {canary: {exact: "true"}}}, {uri: {prefix: /v3}}]
        route: [{subset: v3}]
      - route: [{subset: v1}]
`;
  const h = await startHarness(reviews(ups, routes), { dataPath });
  try {
    const v = async (path: string, method = 'GET'): Promise<string> => (await request(h.port, { path, method, headers: { host: 'reviews' } })).headers['x-version'] as string;
    assert.equal(await v('/exact?x=1'), 'v1');
    assert.equal(await v('/reviews/42'), 'v2');
    assert.equal(await v('/reviews/42', 'DELETE'), 'v1');
    assert.equal(await v('/reviews/42/x'), 'v1');
    assert.equal(await v('/anything?canary=true'), 'v3');
    assert.equal(await v('/v3/x'), 'v3');
    assert.equal(await v('/other'), 'v1');
  } finally {
    await h.close();
    await Promise.all(ups.map((u) => u.close()));
  }
});

forEachDataPath('headers: x-request-id generated or kept, x-forwarded-proto set, x-forwarded-for untouched, upstream service time returned', async (_t, dataPath) => {
  const ups = await versions();
  const h = await startHarness(reviews(ups, '      - route: [{subset: v1}]\n'), { dataPath });
  const ev = captureHttpEvents();
  try {
    const a = await request(h.port, { headers: { host: 'reviews' } });
    const body = JSON.parse(a.body);
    assert.match(body.id, /^[0-9a-f-]{36}$/);
    assert.equal(body.xfp, 'http');
    assert.equal(body.xff, null, 'a sidecar does not append to x-forwarded-for');
    assert.match(a.headers['x-envoy-upstream-service-time'] as string, /^\d+$/);
    assert.equal((await ev.next()).requestId, body.id);
    const b = JSON.parse((await request(h.port, { headers: { host: 'reviews', 'x-request-id': 'abc', 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' } })).body);
    assert.deepEqual([b.id, b.xff, b.xfp], ['abc', '203.0.113.9', 'https']);
    const e = await ev.next();
    assert.equal(e.requestId, 'abc');
    assert.equal(e.reporter, 'source');
    assert.equal(e.cluster, 'outbound|9080|v1|reviews.default.svc.cluster.local');
    assert.equal(e.destinationService, 'reviews.default.svc.cluster.local');
    assert.equal(e.destinationSubset, 'v1');
    assert.deepEqual(e.upstreamLabels, { app: 'reviews', version: 'v1' });
    assert.equal(e.attempts, 1);
    assert.equal(e.responseCode, 200);
  } finally {
    ev.stop();
    await h.close();
    await Promise.all(ups.map((u) => u.close()));
  }
});

forEachDataPath('bodies: a large upload streams past the retry buffer, a large download keeps backpressure, chunked works', async (_t, dataPath) => {
  const up = await startUpstream((q, s) => {
    if (q.url === '/download') {
      const chunk = Buffer.alloc(64 * 1024, 7);
      let left = 160; // 10 MiB
      const pump = (): void => {
        while (left > 0) {
          left -= 1;
          if (!s.write(chunk)) {
            s.once('drain', pump);
            return;
          }
        }
        s.end();
      };
      pump();
      return;
    }
    const hash = createHash('sha256');
    let n = 0;
    q.on('data', (c: Buffer) => {
      hash.update(c);
      n += c.length;
    });
    q.on('end', () => s.end(`${n} ${hash.digest('hex')}`));
  });
  const h = await startHarness(`services:\n  - {host: big, addresses: [198.19.0.1], ports: [{port: 9080, protocol: HTTP}], endpoints: [{address: 127.0.0.1, port: ${up.port}}]}\n`, { dataPath });
  try {
    const body = Buffer.alloc(3 * 1024 * 1024 + 5, 'y');
    const r = await request(h.port, { method: 'PUT', headers: { host: 'big' }, body });
    assert.equal(r.body, `${body.length} ${createHash('sha256').update(body).digest('hex')}`);
    const chunked = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: h.port, method: 'POST', headers: { host: 'big' }, agent: false }, (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => resolve(t));
      });
      req.on('error', reject);
      req.write('hello ');
      setTimeout(() => req.end('world'), 20);
    });
    assert.equal(chunked, `11 ${createHash('sha256').update('hello world').digest('hex')}`);
    const dl = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: h.port, path: '/download', headers: { host: 'big' }, agent: false }, (res) => {
        let n = 0;
        res.pause();
        // A slow reader: the proxy must pause the upstream rather than buffer 10 MiB.
        setTimeout(() => {
          res.on('data', (c: Buffer) => (n += c.length));
          res.resume();
        }, 200);
        res.on('end', () => resolve(n));
      }).on('error', reject);
    });
    assert.equal(dl, 160 * 64 * 1024);
  } finally {
    await h.close();
    await up.close();
  }
});

forEachDataPath('RING_HASH by header: the same user always reaches the same endpoint', async (_t, dataPath) => {
  const ups = await versions();
  // No retries: a retry may rightly go to another host (Istio's previous_hosts predicate), e.g. after a pooled
  // keep-alive connection is reset under load; this test is about the hash alone.
  const h = await startHarness(
    reviews(ups, '      - route: [{host: reviews.default.svc.cluster.local}]\n        retries: {attempts: 0}\n', '    loadBalancer: {consistentHash: {httpHeaderName: x-user}}'),
    { dataPath },
  );
  try {
    const seen = new Map<string, Set<string>>();
    for (let i = 0; i < 60; i++) {
      const user = `u${i % 12}`;
      const r = await request(h.port, { headers: { host: 'reviews', 'x-user': user } });
      (seen.get(user) ?? seen.set(user, new Set()).get(user)!).add(r.headers['x-version'] as string);
    }
    for (const [u, vs] of seen) assert.equal(vs.size, 1, `${u} stuck to one endpoint`);
    const all = new Set([...seen.values()].flatMap((s) => [...s]));
    assert.ok(all.size >= 2, 'users spread over endpoints');
  } finally {
    await h.close();
    await Promise.all(ups.map((u) => u.close()));
  }
});

forEachDataPath('unknown destination under ALLOW_ANY: PassthroughCluster to the original destination, per request', async (_t, dataPath) => {
  const up = await startUpstream((q, s) => s.end(`direct ${q.headers.host}`));
  const h = await startHarness('services:\n  - {host: other, addresses: [198.19.0.99], ports: [{port: 9080, protocol: HTTP}]}\n', { dataPath, dst: { address: '127.0.0.1', port: up.port } });
  const ev = captureHttpEvents();
  try {
    const r = await request(h.port, { headers: { host: 'example.com' } });
    assert.equal(r.body, 'direct example.com');
    // This port is not an HTTP port of any service: plain TCP passthrough, no HTTP event.
    assert.equal(ev.events.length, 0);
  } finally {
    ev.stop();
    await h.close();
    await up.close();
  }
});

forEachDataPath('an unknown address on a port some service declares HTTP: sniffed, routed by Host, else passthrough (allow_any)', async (_t, dataPath) => {
  const ups = await versions();
  const direct = await startUpstream((_q, s) => s.end('direct'));
  const config = reviews(ups, '      - route: [{subset: v3}]\n').replace('ports: [{port: 9080, name: http}]', `ports: [{port: ${direct.port}, name: http}]`);
  const h = await startHarness(config, { dataPath, dst: { address: '127.0.0.1', port: direct.port } });
  const ev = captureHttpEvents();
  try {
    assert.equal((await request(h.port, { headers: { host: 'reviews' } })).headers['x-version'], 'v3');
    assert.equal((await request(h.port, { headers: { host: 'example.com' } })).body, 'direct');
    await ev.next();
    const e = await ev.next();
    assert.deepEqual([e.cluster, e.routeName, e.virtualHost], ['PassthroughCluster', 'allow_any', 'allow_any']);
  } finally {
    ev.stop();
    await h.close();
    await direct.close();
    await Promise.all(ups.map((u) => u.close()));
  }
});

forEachDataPath('REGISTRY_ONLY: an unknown Host on an HTTP port is answered 502 by block_all', async (_t, dataPath) => {
  const ups = await versions();
  const h = await startHarness(`outboundTrafficPolicy: REGISTRY_ONLY\n${reviews(ups, '      - route: [{subset: v1}]\n')}`, { dataPath, dst: { address: '198.18.9.9', port: 9080 } });
  const ev = captureHttpEvents();
  try {
    const r = await request(h.port, { headers: { host: 'example.com' } });
    assert.equal(r.status, 502);
    const e = await ev.next();
    assert.deepEqual([e.routeName, e.responseFlags, e.responseCodeDetails], ['block_all', '-', 'direct_response']);
    assert.equal((await request(h.port, { headers: { host: 'reviews' } })).status, 200, 'registered services still work');
  } finally {
    ev.stop();
    await h.close();
    await Promise.all(ups.map((u) => u.close()));
  }
});
