import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { benchRoutingConfig } from '../../../src/bench/routing-config';
import { parseConfig } from '../../../src/config/loader';
import { assertGolden } from '../../support/golden-file';

test('the sidecars route the L7 port per request and leave every other port to the passthrough cluster (golden)', () => {
  const text = benchRoutingConfig('198.18.0.11');
  assertGolden(text, 'bench', 'sidelane.golden.yaml');
  const doc = parse(text) as { services: { ports: { port: number; protocol: string }[] }[]; inbound: { ports: { port: number }[] } };
  assert.deepEqual(doc.services[0]!.ports.map((p) => [p.port, p.protocol]), [[8080, 'HTTP']]);
  assert.deepEqual(doc.inbound.ports.map((p) => p.port), [8080]);
});

test("sidelane's own config loader accepts it (the file `sidelane run --config` reads in the pods)", () => {
  const config = parseConfig(benchRoutingConfig('198.18.0.11'), 'sidelane.yaml');
  assert.equal(config.outboundTrafficPolicy, 'ALLOW_ANY');
  assert.equal(config.services?.[0]?.endpoints?.[0]?.address, '198.18.0.11');
});
