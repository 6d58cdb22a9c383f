import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../../src/errors';
import { readManifest, selects } from '../../../src/demo/kube-manifest';
import { repoRoot } from '../../support/golden-file';
import { shippedManifest } from './support';

test("the shipped bookinfo.yaml is Istio's, unmodified (same bytes as the reference copy used by the inject tests)", () => {
  const shipped = readFileSync(path.join(repoRoot(), 'src/demo/bookinfo.yaml'), 'utf8');
  assert.equal(shipped, readFileSync(path.join(repoRoot(), 'test/fixtures/inject/bookinfo.yaml'), 'utf8'));
  assert.match(shipped, /Copyright Istio Authors[\s\S]*Apache License, Version 2\.0/);
});

test('bookinfo: 4 Services, 6 Deployments with their pod labels, ports and accounts; the reviews VirtualService', () => {
  const m = shippedManifest();
  assert.deepEqual(m.services.map((s) => s.name), ['details', 'ratings', 'reviews', 'productpage']);
  assert.deepEqual(m.services[2], { name: 'reviews', namespace: 'default', selector: { app: 'reviews' }, ports: [{ port: 9080, name: 'http' }] });
  assert.deepEqual(m.deployments.map((d) => `${d.name} ${d.labels.app}/${d.labels.version} ${d.serviceAccount} ${d.ports.map((p) => p.containerPort)}`), [
    'details-v1 details/v1 bookinfo-details 9080',
    'ratings-v1 ratings/v1 bookinfo-ratings 9080',
    'reviews-v1 reviews/v1 bookinfo-reviews 9080',
    'reviews-v2 reviews/v2 bookinfo-reviews 9080',
    'reviews-v3 reviews/v3 bookinfo-reviews 9080',
    'productpage-v1 productpage/v1 bookinfo-productpage 9080',
  ]);
  assert.equal(m.virtualServices.length, 1);
  const vs = m.virtualServices[0]!;
  assert.deepEqual(vs.hosts, ['reviews']);
  assert.deepEqual(vs.http[0]!.match, [{ headers: { 'end-user': { exact: 'jason' } } }]);
  assert.deepEqual(vs.http[1]!.route.map((r) => [r.destination.subset, r.weight]), [['v1', 50], ['v3', 50]]);
});

test('other kinds (ServiceAccount, a custom resource called Service) are skipped; empty documents too', () => {
  const m = readManifest('---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n---\n---\napiVersion: example.com/v1\nkind: Service\nmetadata: {name: b}\n', 'x.yaml');
  assert.deepEqual(m, { services: [], deployments: [], virtualServices: [] });
});

test('what the demo cannot use is refused with the file, the object, the path and what was expected', () => {
  const cases: [string, RegExp][] = [
    ['apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 70000}]}', /^x\.yaml: Service s: spec\.ports\[0\]\.port: expected a port number 1-65535, got 70000$/],
    ['apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 53, protocol: UDP}]}', /spec\.ports\[0\]\.protocol: expected TCP \(sidelane captures TCP only\), got "UDP"/],
    ['apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: []}', /Service s: spec\.ports: expected at least one port/],
    ['apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}', /Deployment d: spec\.template: expected a pod template/],
    ['apiVersion: v1\nkind: Service\nmetadata: {}\nspec: {ports: [{port: 1}]}', /metadata\.name: expected a name/],
    [
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec: {hosts: [r], http: [{fault: {}, route: [{destination: {host: r}}]}]}',
      /VirtualService v: spec\.http\[0\]\.fault: expected one of name, match, route, timeout, retries/,
    ],
    ['apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec: {hosts: [r], tcp: []}', /spec\.tcp: expected only hosts and http/],
    [
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec: {hosts: [r], http: [{route: [{destination: {host: r, port: 9080}}]}]}',
      /route\[0\]\.destination\.port: expected \{number: N\}, got 9080/,
    ],
    ['kind: Service\napiVersion: v1\nmetadata: {name: s\n', /^x\.yaml: document 1: not valid YAML/],
    ['- a list', /document 1: expected a Kubernetes object/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => readManifest(text, 'x.yaml'), (err: unknown) => err instanceof ConfigError && message.test(err.message), `for ${text}`);
  }
});

test('selectors: every selector label must be on the pod; an empty selector selects nothing', () => {
  assert.ok(selects({ app: 'reviews' }, { app: 'reviews', version: 'v2' }));
  assert.ok(!selects({ app: 'reviews', version: 'v1' }, { app: 'reviews', version: 'v2' }));
  assert.ok(!selects({}, { app: 'reviews' }));
});
