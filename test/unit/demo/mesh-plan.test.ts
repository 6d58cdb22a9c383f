import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../../src/errors';
import { readManifest } from '../../../src/demo/kube-manifest';
import { hostEntries, planMesh } from '../../../src/demo/mesh-plan';
import { shippedManifest } from './support';

test('bookinfo plan: one pod per Deployment (app name when it has one version), a client pod, VIPs per Service', () => {
  const plan = planMesh(shippedManifest());
  assert.deepEqual(
    plan.pods.map((p) => `${p.name} ${p.ipv4} ${p.app ? `${p.app.role} ${p.app.version} :${p.app.port}` : '-'}`),
    [
      'details 198.18.0.10 details v1 :9080',
      'ratings 198.18.0.11 ratings v1 :9080',
      'reviews-v1 198.18.0.12 reviews v1 :9080',
      'reviews-v2 198.18.0.13 reviews v2 :9080',
      'reviews-v3 198.18.0.14 reviews v3 :9080',
      'productpage 198.18.0.15 productpage v1 :9080',
      'client 198.18.0.100 -',
    ],
  );
  assert.equal(plan.client.name, 'client');
  assert.deepEqual(plan.services.map((s) => `${s.fqdn} ${s.vip}`), [
    'details.default.svc.cluster.local 198.19.0.10',
    'ratings.default.svc.cluster.local 198.19.0.11',
    'reviews.default.svc.cluster.local 198.19.0.12',
    'productpage.default.svc.cluster.local 198.19.0.13',
  ]);
  // Every address is in the benchmarking range the lab may use.
  for (const p of plan.pods) assert.match(p.ipv4, /^198\.18\.0\.\d+$/);
  for (const s of plan.services) assert.match(s.vip, /^198\.19\.0\.\d+$/);
});

test("names in the pods' /etc/hosts: short, namespaced and fully qualified, each to its VIP", () => {
  const hosts = hostEntries(planMesh(shippedManifest()));
  assert.equal(hosts.ratings, '198.19.0.11');
  assert.equal(hosts['ratings.default'], '198.19.0.11');
  assert.equal(hosts['ratings.default.svc'], '198.19.0.11');
  assert.equal(hosts['ratings.default.svc.cluster.local'], '198.19.0.11');
  assert.equal(Object.keys(hosts).length, 16);
});

test('the app port is the container port the Service targets (by number or by name)', () => {
  const m = readManifest(
    `apiVersion: v1
kind: Service
metadata: {name: ratings}
spec: {selector: {app: ratings}, ports: [{port: 80, name: http, targetPort: web}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ratings-v1}
spec: {template: {metadata: {labels: {app: ratings, version: v1}}, spec: {containers: [{name: r, ports: [{containerPort: 8080, name: web}]}]}}}
`,
    'x.yaml',
  );
  assert.equal(planMesh(m).pods[0]!.app!.port, 8080);
});

test('a Deployment the demo has no app for is refused by name', () => {
  const m = readManifest(
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: mongodb-v1}\nspec: {template: {metadata: {labels: {app: mongodb}}, spec: {containers: []}}}\n',
    'x.yaml',
  );
  assert.throws(() => planMesh(m, {}, 'x.yaml'), (e: unknown) => e instanceof ConfigError && /Deployment mongodb-v1: the demo has no app for app label "mongodb" \(expected one of productpage, details, reviews, ratings\)/.test(e.message));
  assert.throws(() => planMesh({ services: [], deployments: [], virtualServices: [] }, {}, 'x.yaml'), /expected at least one Deployment/);
});
