import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/loader';
import { ConfigError } from '../../../src/errors';
import { readManifest, mergeManifests } from '../../../src/demo/kube-manifest';
import { meshRoutes, meshServices, podConfig, renderConfig } from '../../../src/demo/mesh-config';
import { planMesh } from '../../../src/demo/mesh-plan';
import { assertGolden } from '../../support/golden-file';
import { MANIFEST_FILES, shippedManifest } from './support';

test('every pod config generated from bookinfo matches its golden file and passes the real loader', () => {
  const m = shippedManifest();
  const plan = planMesh(m);
  for (const pod of plan.pods) {
    const text = renderConfig(podConfig(m, plan, pod), pod, MANIFEST_FILES);
    assertGolden(text, 'golden', 'demo', `${pod.name}.yaml`);
    const config = parseConfig(text, `${pod.name}.yaml`);
    assert.equal(config.services?.length, 4);
  }
});

test('Services + selected pods → services with VIPs, endpoints with labels, subsets from the version labels', () => {
  const m = shippedManifest();
  const services = meshServices(planMesh(m));
  const reviews = services.find((s) => s.host === 'reviews.default.svc.cluster.local')!;
  assert.deepEqual(reviews.addresses, ['198.19.0.12']);
  assert.deepEqual(reviews.ports, [{ port: 9080, name: 'http' }]);
  assert.deepEqual(reviews.endpoints?.map((e) => `${e.address} ${e.labels?.version}`), ['198.18.0.12 v1', '198.18.0.13 v2', '198.18.0.14 v3']);
  assert.deepEqual(reviews.subsets, ['v1', 'v2', 'v3'].map((v) => ({ name: v, labels: { version: v } })));
});

test('the VirtualService becomes a route on the FQDN with Istio destinations, in order', () => {
  const m = shippedManifest();
  const routes = meshRoutes(m, planMesh(m));
  assert.deepEqual(routes, [
    {
      host: 'reviews.default.svc.cluster.local',
      http: [
        { match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host: 'reviews.default.svc.cluster.local', subset: 'v2' } }] },
        {
          route: [
            { destination: { host: 'reviews.default.svc.cluster.local', subset: 'v1' }, weight: 50 },
            { destination: { host: 'reviews.default.svc.cluster.local', subset: 'v3' }, weight: 50 },
          ],
        },
      ],
    },
  ]);
});

test('the pod config: its Deployment as workload, the targeted container ports as inbound ports; the client has neither', () => {
  const m = shippedManifest();
  const plan = planMesh(m);
  const pp = podConfig(m, plan, plan.pods.find((p) => p.name === 'productpage')!);
  assert.deepEqual(pp.workload, { name: 'productpage-v1', namespace: 'default', serviceAccount: 'bookinfo-productpage', labels: { app: 'productpage', version: 'v1' } });
  assert.deepEqual(pp.inbound, { ports: [{ port: 9080, name: 'http' }] });
  const client = podConfig(m, plan, plan.client);
  assert.deepEqual(client.workload, { name: 'client', namespace: 'default', labels: { app: 'client' } });
  assert.equal(client.inbound, undefined);
});

test('a VirtualService host that is no Service of the manifest, or a match sidelane cannot evaluate, is refused', () => {
  const base = shippedManifest();
  const vs = (spec: string) =>
    mergeManifests(base, readManifest(`apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec: ${spec}\n`, 'vs.yaml'));
  const unknown = vs('{hosts: [reviews], http: [{route: [{destination: {host: mongodb}}]}]}');
  assert.throws(() => meshRoutes(unknown, planMesh(unknown), 'vs.yaml'), (e: unknown) => e instanceof ConfigError && /VirtualService x: host mongodb is not a Service of the manifest \(resolved to mongodb\.default\.svc\.cluster\.local\)/.test(e.message));
  const fqdn = vs('{hosts: [ratings.default.svc.cluster.local], http: [{route: [{destination: {host: ratings.default, port: {number: 9080}}}]}]}');
  assert.deepEqual(meshRoutes(fqdn, planMesh(fqdn)).at(-1), {
    host: 'ratings.default.svc.cluster.local',
    http: [{ route: [{ destination: { host: 'ratings.default.svc.cluster.local', port: 9080 } }] }],
  });
  const sourceLabels = vs('{hosts: [reviews], http: [{match: [{sourceLabels: {app: productpage}}], route: [{destination: {host: reviews}}]}]}');
  assert.throws(() => meshRoutes(sourceLabels, planMesh(sourceLabels), 'vs.yaml'), /spec\.http\[0\]\.match\.sourceLabels: sidelane matches on name, uri, method, authority, headers, queryParams/);
});

test('a named targetPort is resolved per pod into the endpoint, and the generated config is valid', () => {
  const m = readManifest(
    `apiVersion: v1
kind: Service
metadata: {name: ratings}
spec: {selector: {app: ratings}, ports: [{port: 80, name: http, targetPort: web}, {port: 81, name: tcp-admin, targetPort: 9090}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ratings-v1}
spec: {template: {metadata: {labels: {app: ratings, version: v1}}, spec: {containers: [{name: r, ports: [{containerPort: 8080, name: web}, {containerPort: 9090}]}]}}}
`,
    'x.yaml',
  );
  const plan = planMesh(m);
  const config = podConfig(m, plan, plan.pods[0]!);
  assert.deepEqual(config.services?.[0]?.ports, [{ port: 80, name: 'http' }, { port: 81, name: 'tcp-admin', targetPort: 9090 }]);
  assert.deepEqual(config.services?.[0]?.endpoints, [{ address: '198.18.0.10', ports: { http: 8080 }, labels: { app: 'ratings', version: 'v1' } }]);
  assert.deepEqual(config.inbound, { ports: [{ port: 8080, name: 'http' }, { port: 9090, name: 'tcp-admin' }] });
  parseConfig(renderConfig(config, plan.pods[0]!, ['x.yaml']), 'ratings.yaml');
});
