import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/loader';
import { ServiceRegistry } from '../../../src/outbound/service-registry';

const registry = (yaml: string): ServiceRegistry => new ServiceRegistry(parseConfig(yaml, 'm.yaml').services ?? []);

test('original destinations: service addresses with service ports, endpoints with their target ports', () => {
  const r = registry(`services:
  - host: web
    addresses: [198.19.0.5, 2001:db8::5]
    ports: [{port: 80, name: http, targetPort: 8080}]
    endpoints: [{address: 198.18.0.7}]
`);
  assert.equal(r.lookup('198.19.0.5', 80)?.service.host, 'web');
  assert.equal(r.lookup('198.19.0.5', 80)?.via, 'address');
  assert.equal(r.lookup('::ffff:198.19.0.5', 80)?.service.host, 'web', 'v4-mapped addresses are the v4 address');
  assert.equal(r.lookup('2001:db8::5', 80)?.protocol.effective, 'HTTP');
  assert.equal(r.lookup('198.19.0.5', 8080), undefined, 'the target port is not a service port');
  assert.equal(r.lookup('198.18.0.7', 8080)?.via, 'endpoint');
  assert.equal(r.lookup('198.18.0.7', 80), undefined);
});

test('an endpoint behind two services is ambiguous and not used; a service address always wins over an endpoint', () => {
  const r = registry(`services:
  - {host: a, ports: [{port: 80}], endpoints: [{address: 198.18.0.9}]}
  - {host: b, ports: [{port: 80}], endpoints: [{address: 198.18.0.9}, {address: 198.18.0.10}]}
  - {host: c, addresses: [198.18.0.10], ports: [{port: 80}]}
`);
  assert.equal(r.lookup('198.18.0.9', 80), undefined);
  assert.equal(r.lookup('198.18.0.10', 80)?.service.host, 'c');
  assert.equal(r.service('b')?.endpoints?.length, 2);
});
