/**
 * Issue 5 acceptance through capture, in network namespaces: bookinfo's reviews v1/v2/v3 and ratings, each pod with
 * `sidelane init` and `sidelane run --config`. From a client pod, 2,000 requests to reviews split 50/50 between v1
 * and v3 (±5%), `end-user: jason` always reaches v2, and v2/v3 reach ratings through both sidecars (reviews'
 * outbound, ratings' inbound). proxy-config shows the same model in every pod.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { CLI, REPO, cleanEnv, init, startApp, startProxy } from '../../support/mesh';

const APP = path.join(REPO, 'dist/src/demo/bookinfo-app.js');

function meshConfig(pods: Record<string, Pod>): string {
  return `outboundTrafficPolicy: REGISTRY_ONLY
defaults:
  connectTimeout: 2s
services:
  - host: reviews.default.svc.cluster.local
    addresses: [198.19.0.12]
    ports: [{port: 9080, name: http}]
    endpoints:
      - {address: ${pods['reviews-v1']!.ipv4}, labels: {app: reviews, version: v1}}
      - {address: ${pods['reviews-v2']!.ipv4}, labels: {app: reviews, version: v2}}
      - {address: ${pods['reviews-v3']!.ipv4}, labels: {app: reviews, version: v3}}
    subsets:
      - {name: v1, labels: {version: v1}}
      - {name: v2, labels: {version: v2}}
      - {name: v3, labels: {version: v3}}
  - host: ratings.default.svc.cluster.local
    addresses: [198.19.0.13]
    ports: [{port: 9080, name: http}]
    endpoints: [{address: ${pods.ratings!.ipv4}, labels: {app: ratings, version: v1}}]
routes:
  - host: reviews.default.svc.cluster.local
    http:
      - name: jason
        match: [{headers: {end-user: {exact: jason}}}]
        route: [{subset: v2}]
      - name: split
        route: [{subset: v1, weight: 50}, {subset: v3, weight: 50}]
inbound:
  ports: [{port: 9080, protocol: HTTP}]
`;
}

/** Runs in the client pod: N requests (keep-alive, concurrency C) and a count of the versions that answered. */
const LOAD = `
const http = require('http');
const [url, n, c, user] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const agent = new http.Agent({ keepAlive: true, maxSockets: c });
const out = { versions: {}, failed: [], stars: 0 };
let started = 0;
function one() {
  if (started >= n) return Promise.resolve();
  started++;
  return new Promise((resolve) => {
    const req = http.get(url, { agent, headers: user ? { 'end-user': user } : {} }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        if (res.statusCode !== 200) out.failed.push(res.statusCode + ' ' + body.slice(0, 200));
        else {
          const j = JSON.parse(body);
          out.versions[j.version] = (out.versions[j.version] || 0) + 1;
          if (j.reviews && j.reviews[0].rating && j.reviews[0].rating.stars === 5) out.stars++;
        }
        resolve();
      });
    });
    req.on('error', (e) => { out.failed.push(e.message); resolve(); });
  }).then(one);
}
Promise.all(Array.from({ length: c }, one)).then(() => { console.log(JSON.stringify(out)); agent.destroy(); });
`;

interface LoadResult {
  versions: Record<string, number>;
  failed: string[];
  stars: number;
}

async function load(client: Pod, n: number, user?: string): Promise<LoadResult> {
  const args = ['-e', LOAD, 'http://reviews:9080/reviews/0', String(n), '8', ...(user ? [user] : [])];
  // Through the connect() hook (the primary outbound capture).
  const r = await client.exec('node', [CLI, 'exec', '--', 'node', ...args], { env: cleanEnv(), timeoutMs: 120_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as LoadResult;
}

async function clusterStats(pod: Pod, name: string): Promise<Record<string, number>> {
  const r = await pod.exec('node', ['-e', "fetch('http://127.0.0.1:15000/clusters?format=json').then((r) => r.text()).then(console.log)"]);
  const all = JSON.parse(r.stdout) as { cluster_statuses: { name: string; stats: Record<string, number> }[] };
  const c = all.cluster_statuses.find((x) => x.name === name);
  assert.ok(c, `cluster ${name} in ${pod.name}`);
  return c.stats;
}

test('bookinfo through capture: 50/50 v1/v3 over 2,000 requests, jason → v2, ratings through both sidecars', { timeout: 300_000 }, async (t) => {
  await withLab(t, { prefix: 'route', ipv6: false }, async (lab) => {
    const pods: Record<string, Pod> = {};
    for (const name of ['client', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'ratings']) pods[name] = await lab.addPod(name);
    lab.setHosts({ reviews: '198.19.0.12', ratings: '198.19.0.13' });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sidelane-bookinfo-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const config = path.join(dir, 'mesh.yaml');
    writeFileSync(config, meshConfig(pods));

    for (const pod of Object.values(pods)) {
      await init(pod);
      await startProxy(pod, ['--config', config]);
    }
    for (const v of ['v1', 'v2', 'v3']) await startApp(pods[`reviews-${v}`]!, 'node', [APP, 'reviews', v, '9080'], /listening/, cleanEnv());
    await startApp(pods.ratings!, 'node', [APP, 'ratings', 'v1', '9080'], /listening/, cleanEnv());

    const t0 = Date.now();
    const split = await load(pods.client!, 2000);
    t.diagnostic(`2,000 requests (client → 2 sidecars → reviews; v3 also → 2 sidecars → ratings) in ${Date.now() - t0} ms, 8 concurrent, keep-alive`);
    assert.deepEqual(split.failed, []);
    assert.equal(split.versions.v2, undefined, 'v2 only for jason');
    const v1 = split.versions.v1 ?? 0;
    const v3 = split.versions.v3 ?? 0;
    assert.equal(v1 + v3, 2000);
    assert.ok(Math.abs(v1 - 1000) <= 100, `v1 answered ${v1} of 2000 (expected 1000 ± 5%)`);
    assert.equal(split.stars, v3, 'every v3 answer carries ratings (reviews-v3 → ratings through both sidecars)');

    const jason = await load(pods.client!, 50, 'jason');
    assert.deepEqual(jason.failed, []);
    assert.deepEqual(jason.versions, { v2: 50 });
    assert.equal(jason.stars, 50, 'reviews-v2 reached ratings for every request');

    // Both sidecars on the ratings path counted the requests: reviews-v2's outbound cluster, ratings' inbound one.
    const out = await clusterStats(pods['reviews-v2']!, 'outbound|9080||ratings.default.svc.cluster.local');
    assert.equal(out.upstream_rq_total, 50);
    const inbound = await clusterStats(pods.ratings!, 'inbound|9080||');
    assert.equal(inbound.upstream_rq_total, 50 + v3);
    const clientSide = await clusterStats(pods.client!, 'outbound|9080|v1|reviews.default.svc.cluster.local');
    assert.equal(clientSide.upstream_rq_total, v1);
    assert.ok(clientSide.upstream_cx_total <= 16, `the client sidecar pooled its upstream connections (${clientSide.upstream_cx_total})`);

    // The seed's walkthrough, with sidelane's views.
    const routes = await pods.client!.exec('node', [CLI, 'proxy-config', 'routes', '--name', '9080']);
    assert.match(routes.stdout, /reviews\.default\.svc\.cluster\.local:9080 .* header end-user=jason +outbound\|9080\|v2\|reviews\.default\.svc\.cluster\.local/);
    assert.match(routes.stdout, /outbound\|9080\|v1\|reviews\.default\.svc\.cluster\.local \(50%\), outbound\|9080\|v3\|reviews\.default\.svc\.cluster\.local \(50%\)/);
    const eps = await pods.client!.exec('node', [CLI, 'proxy-config', 'endpoints', '--cluster', 'outbound|9080||reviews.default.svc.cluster.local']);
    for (const v of ['reviews-v1', 'reviews-v2', 'reviews-v3']) assert.match(eps.stdout, new RegExp(`${pods[v]!.ipv4.replace(/\./g, '\\.')}:9080 +HEALTHY +OK`));
    const inboundClusters = await pods.ratings!.exec('node', [CLI, 'proxy-config', 'clusters', '--port', '9080', '--direction', 'inbound', '-o', 'json']);
    assert.deepEqual((JSON.parse(inboundClusters.stdout) as { name: string }[]).map((c) => c.name), ['inbound|9080||']);

    // A service address with a foreign Host is still that service; an unknown address is refused by block_all
    // (REGISTRY_ONLY) with Envoy's 502, without any connection attempt.
    const curl = async (url: string): Promise<string> =>
      (await pods.client!.exec('node', [CLI, 'exec', '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: example.com', url], { env: cleanEnv(), allowFailure: true })).stdout;
    assert.equal(await curl('http://198.19.0.12:9080/reviews/0'), '200');
    assert.equal(await curl('http://198.18.0.250:9080/'), '502');
    assert.equal(await pods.client!.conntrackCount(), 0, 'no conntrack entry in the client pod');
  });
});
