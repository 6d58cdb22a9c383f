/**
 * Issue 8 acceptance: `sidelane demo --json -` end to end, non-interactively — bookinfo in seven namespaces, every
 * request succeeds through every sidecar, reviews split 50/50 between v1 and v3 within 5σ of the binomial, jason
 * always reaches v2, nf_conntrack_count 0 in every pod, the walkthrough shows each step, and afterwards nothing
 * is left (namespaces, hosts files, processes, capture state, run directory).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DemoSummary } from '../../../src/demo/demo-summary';
import { netnsAvailable } from '../../support/netns';
import { leftovers, NOTHING, runCli } from './demo-support';

const REQUESTS = 400;

test('sidelane demo --json -: all requests succeed, 50/50 v1/v3, jason → v2, conntrack 0, nothing left behind', { timeout: 180_000 }, async (t) => {
  if (!netnsAvailable(t)) return;
  const started = Date.now();
  const r = await runCli(['demo', '--requests', String(REQUESTS), '--json', '-']);
  const wall = Date.now() - started;
  assert.equal(r.code, 0, `demo exited ${r.code}: ${r.stderr.slice(-3000)}`);
  const s = JSON.parse(r.stdout) as DemoSummary;
  t.diagnostic(`demo: ${wall} ms wall (setup ${s.timings.setupMs}, traffic ${s.timings.trafficMs}, walkthrough ${s.timings.walkthroughMs}, teardown ${s.timings.teardownMs}); latency p50 ${s.latencyMs.p50} ms p99 ${s.latencyMs.p99} ms; split ${JSON.stringify(s.split.observed)}`);

  assert.deepEqual(s.problems, []);
  assert.equal(s.ok, true);
  assert.deepEqual(s.mesh.pods.map((p) => p.name), ['details', 'ratings', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'productpage', 'client']);

  // Every request (the split's, jason's, and the one without the hook) succeeded through every hop.
  const jasonN = Math.max(10, Math.round(REQUESTS / 10));
  assert.equal(s.requests.length, REQUESTS + jasonN);
  assert.deepEqual(s.requests.filter((x) => !x.ok), []);
  assert.equal(s.fallback.ok, true, `request without the hook: ${s.fallback.error}`);

  // The split, counted here from the requests themselves (not from the demo's own verdict).
  const normal = s.requests.filter((x) => x.user === null);
  const count = (v: string) => normal.filter((x) => x.version === v).length;
  assert.equal(count('v1') + count('v3'), REQUESTS, `only v1 and v3 answer anonymous requests: ${JSON.stringify(s.split.observed)}`);
  const band = 5 * Math.sqrt(REQUESTS * 0.25); // 5σ of Binomial(400, ½) = 50
  assert.ok(Math.abs(count('v1') - REQUESTS / 2) <= band, `v1 answered ${count('v1')} of ${REQUESTS}, expected ${REQUESTS / 2} ± ${band}`);
  assert.deepEqual(s.split.expected, { v1: 50, v3: 50 });
  // v1 shows no stars; every v3 answer carries ratings (reviews-v3 → ratings through both sidecars).
  assert.ok(normal.every((x) => x.ratings === (x.version === 'v3')));
  const jason = s.requests.filter((x) => x.user === 'jason');
  assert.equal(jason.length, jasonN);
  assert.ok(jason.every((x) => x.version === 'v2' && x.ratings), `jason saw ${JSON.stringify(s.jason.observed)}`);
  // productpage's sidecar counted the same split per subset cluster (+ jason's and the hook-less request).
  assert.equal(s.split.sidecarCounted.v1! + s.split.sidecarCounted.v3!, REQUESTS + 1);
  assert.equal(s.split.sidecarCounted.v2, jasonN);

  // conntrack: 0 in every pod, with conntrack loaded (so 0 means something).
  assert.equal(s.conntrackLoaded, true, 'nf_conntrack must be loaded for the zeros to prove anything');
  assert.deepEqual(s.conntrack, Object.fromEntries(s.mesh.pods.map((p) => [p.name, 0])));

  // The walkthrough a newcomer reads (on stderr when the JSON takes stdout).
  for (let i = 1; i <= 9; i++) assert.match(r.stderr, new RegExp(`\\[${i}/9\\] `));
  assert.match(r.stderr, /capture show\n {4}PKTS {3}CHAIN/);
  assert.match(r.stderr, /a new inbound connection: to the inbound listener :15006/);
  assert.match(r.stderr, /proxy-config listeners --port 15006\n(.*\n){2}.*Inline Route: inbound\|9080\|\|/);
  assert.match(r.stderr, /ratings\.default\.svc\.cluster\.local:9080 +\/\* +outbound\|9080\|\|ratings\.default\.svc\.cluster\.local/);
  assert.match(r.stderr, /198\.18\.0\.11:9080 +HEALTHY +OK +outbound\|9080\|\|ratings\.default\.svc\.cluster\.local/);
  assert.match(r.stderr, /NF_CONNTRACK_COUNT/);

  // Nothing left behind, checked here from the outside.
  const inodes = new Set(s.mesh.pods.map((p) => p.netnsInode));
  assert.deepEqual(await leftovers(s.mesh.id, inodes, s.mesh.dir), NOTHING);
  assert.deepEqual(s.leftBehind, { namespaces: [], hostsFiles: [], processes: [], captureStateFiles: [], runDir: false });
  assert.ok(wall < 90_000, `the demo took ${wall} ms (it should run in under a minute)`);
});
