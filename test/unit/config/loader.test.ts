import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../../src/errors';
import { loadConfigFile, parseConfig } from '../../../src/config/loader';
import { fixture } from '../../support/golden';

function configError(text: string): ConfigError {
  try {
    parseConfig(text, 'mesh.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('the configuration was accepted');
}

const SERVICE = `
services:
  - host: reviews.default.svc.cluster.local
    addresses: [198.19.0.12]
    ports: [{port: 9080, protocol: HTTP}]
    endpoints:
      - {address: 198.18.0.12, labels: {version: v1}}
      - {address: 198.18.0.13, labels: {version: v2}}
    subsets: [{name: v1, labels: {version: v1}}]
`;

test('the bookinfo fixture is valid and typed (durations in ms, defaults left for the snapshot)', () => {
  const c = loadConfigFile(fixture('config/bookinfo.yaml'));
  assert.equal(c.services?.length, 5);
  assert.equal(c.defaults?.connectTimeout, 10_000);
  const split = c.routes?.[0]?.http?.[1];
  assert.equal(split?.timeout, 5000);
  assert.equal(split?.retries?.perTryTimeout, 2000);
  assert.deepEqual(split?.retries?.retryOn, ['5xx', 'connect-failure']);
});

test('JSON is accepted; {} is the empty configuration, an empty file is refused', () => {
  const c = parseConfig(JSON.stringify({ outboundTrafficPolicy: 'REGISTRY_ONLY', services: [] }), 'mesh.json');
  assert.equal(c.outboundTrafficPolicy, 'REGISTRY_ONLY');
  assert.deepEqual(parseConfig('{}', 'empty.yaml'), {});
  // A reload that reads a file while it is being rewritten (truncated, then filled) must not apply "nothing".
  for (const text of ['', '# only a comment\n', '~\n', 'null']) {
    assert.throws(() => parseConfig(text, 'empty.yaml'), /^ConfigError: config empty.yaml: \(top level\): the file has no configuration/);
  }
});

test('a schema error names the file, line, path and what was expected', () => {
  const e = configError(`services:
  - host: a.default.svc.cluster.local
    ports: [{port: 9080}]
  - host: b.default.svc.cluster.local
    ports:
      - port: 9080
      - port: 70000
`);
  assert.equal(e.message, 'config mesh.yaml:7:15: services[1].ports[1].port: expected a port number 1-65535, got 70000');
  assert.equal(e.exitCode, 2);
  assert.equal(e.code, 'SIDELANE_ERR_CONFIG');
  assert.deepEqual(e.issues[0], { path: 'services[1].ports[1].port', message: 'expected a port number 1-65535, got 70000', line: 7, column: 15 });
});

test('unknown fields are errors, at the field', () => {
  const e = configError(`services:\n  - host: a\n    ports: [{port: 1, protocl: HTTP}]\n`);
  assert.match(e.message, /^config mesh\.yaml:3:\d+: services\[0\]\.ports\[0\]\.protocl: unknown field/);
  assert.match(configError('outboundTrafficPolicyy: ALLOW_ANY\n').message, /outboundTrafficPolicyy: unknown field/);
});

test('each kind of mistake says what was expected', () => {
  const cases: [string, RegExp][] = [
    ['outboundTrafficPolicy: ALLOW_SOME\n', /outboundTrafficPolicy: expected ALLOW_ANY or REGISTRY_ONLY, got "ALLOW_SOME"/],
    ['services:\n  - host: a\n    ports: [{port: 1}]\n    connectTimeout: 5 seconds\n', /connectTimeout: expected a duration like 250ms, 5s, 1m or 1h/],
    ['services:\n  - host: a\n    ports: [{port: 1}]\n    endpoints: [{address: 1.2.3}]\n', /endpoints\[0\]\.address: expected an IPv4 or IPv6 address, got "1\.2\.3"/],
    ['services:\n  - host: Reviews\n    ports: [{port: 1}]\n', /services\[0\]\.host: expected a lower-case DNS host name/],
    ['services:\n  - host: a\n    ports: [{port: 1, protocol: UDP}]\n', /UDP is not proxied by sidelane/],
    ['services:\n  - host: a\n    ports: [{port: 1, protocol: SCTP}]\n', /protocol: expected a protocol: HTTP, AUTO, TCP/],
    ['services:\n  - host: a\n    ports: [{port: 1}]\n    loadBalancer: FASTEST\n', /loadBalancer: expected ROUND_ROBIN, LEAST_REQUEST, RANDOM/],
    ['services:\n  - host: a\n    ports: [{port: 1}]\n    loadBalancer: {consistentHash: {httpHeaderName: x, useSourceIp: true}}\n', /consistentHash: expected exactly one hash key/],
    ['services:\n  - host: a\n    ports: []\n', /services\[0\]\.ports: expected at least one port/],
    ['services:\n  - ports: [{port: 1}]\n', /services\[0\]\.host: missing/],
    [`${SERVICE}routes:\n  - host: reviews.default.svc.cluster.local\n    http: [{match: [{uri: {prefix: /a, exact: /b}}], route: [{subset: v1}]}]\n`, /uri: expected exactly one of exact, prefix, regex/],
    [`${SERVICE}routes:\n  - host: reviews.default.svc.cluster.local\n    http: [{match: [{uri: {regex: "a(("}}], route: [{subset: v1}]}]\n`, /regex: expected a valid regular expression/],
    [`${SERVICE}routes:\n  - host: reviews.default.svc.cluster.local\n    http: [{route: [{subset: v1}], retries: {attempts: 2, retryOn: "5xx,sometimes"}}]\n`, /retryOn: expected retry conditions among 5xx/],
    ['a: [\n', /^config mesh\.yaml:\d+:\d+: not valid YAML\/JSON:/],
  ];
  for (const [text, expected] of cases) assert.match(configError(text).message, expected, text);
});

test('dangling references are errors with their path', () => {
  const cases: [string, RegExp][] = [
    [`${SERVICE}routes:\n  - host: ratings.default.svc.cluster.local\n    http: [{route: [{subset: v1}]}]\n`, /routes\[0\]\.host: route for unknown host ratings\.default\.svc\.cluster\.local/],
    [`${SERVICE}routes:\n  - host: reviews.default.svc.cluster.local\n    port: 9090\n    http: [{route: [{subset: v1}]}]\n`, /routes\[0\]\.port: service reviews\.default\.svc\.cluster\.local has no port 9090/],
    [`${SERVICE}routes:\n  - host: reviews.default.svc.cluster.local\n    http: [{route: [{subset: v9}]}]\n`, /routes\[0\]\.http\[0\]\.route\[0\]\.subset: service reviews\.default\.svc\.cluster\.local has no subset v9 \(expected one of v1\)/],
    [`${SERVICE}routes:\n  - host: reviews.default.svc.cluster.local\n    http: [{route: [{subset: {version: v3}}]}]\n`, /route\[0\]\.subset: subset \{version: v3\} of reviews\.default\.svc\.cluster\.local selects no endpoint/],
    [`${SERVICE}routes:\n  - host: reviews.default.svc.cluster.local\n    http: [{route: [{host: nope.default.svc.cluster.local}]}]\n`, /route\[0\]\.host: destination host nope\.default\.svc\.cluster\.local is not a service/],
    [`${SERVICE}routes:\n  - host: reviews.default.svc.cluster.local\n    http: [{route: [{subset: v1, weight: 50}, {subset: {version: v2}}]}]\n`, /route: give every destination a weight, or none/],
    [`${SERVICE}    outlierDetection: {}\n  - host: x.default.svc.cluster.local\n    ports: [{port: 1}]\n    subsets: [{name: s, labels: {version: v5}}]\n`, /services\[1\]\.subsets\[0\]\.labels: subset s of x\.default\.svc\.cluster\.local selects no endpoint/],
    [`${SERVICE}  - host: reviews.default.svc.cluster.local\n    ports: [{port: 1}]\n`, /services\[1\]\.host: duplicate service host/],
    [`${SERVICE}  - host: other.default.svc.cluster.local\n    addresses: [198.19.0.12]\n    ports: [{port: 9080}]\n`, /services\[1\]\.addresses: address 198\.19\.0\.12 port 9080 is already the address of service reviews/],
    ['services:\n  - host: m\n    ports: [{port: 1, name: a}, {port: 2, name: b}]\n    endpoints: [{address: 198.18.0.1, port: 5}]\n', /endpoints\[0\]\.port: service m has 2 ports: give endpoint ports by port name/],
    ['services:\n  - host: m\n    ports: [{port: 1, protocol: TCP}]\nroutes:\n  - host: m\n    http: [{route: [{host: m}]}]\n', /routes\[0\]\.http: http routes on a TCP port of m/],
    ['inbound:\n  ports: [{port: 9080}, {port: 9080}]\n', /inbound\.ports\[1\]\.port: duplicate inbound port 9080/],
  ];
  for (const [text, expected] of cases) {
    const e = configError(text);
    assert.match(e.message, expected, text);
    assert.match(e.message, /^config mesh\.yaml:\d+:\d+: /, 'every problem is located in the file');
  }
});

test('several problems: the first is the line, the rest are counted and kept for --verbose', () => {
  const e = configError('services:\n  - host: a\n    ports: [{port: 0}, {port: -1}]\n');
  assert.match(e.message, /\(and 1 more problem; --verbose lists them\)$/);
  assert.equal(e.issues.length, 2);
  assert.deepEqual((e.context as { issues: unknown[] }).issues.length, 2);
});

test('an unreadable file is a config error naming the file', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sl-cfg-'));
  try {
    assert.throws(() => loadConfigFile(path.join(dir, 'missing.yaml')), (e: unknown) => e instanceof ConfigError && /missing\.yaml: cannot read the file \(ENOENT\)/.test(e.message));
    writeFileSync(path.join(dir, 'ok.yaml'), 'outboundTrafficPolicy: REGISTRY_ONLY\n');
    assert.equal(loadConfigFile(path.join(dir, 'ok.yaml')).outboundTrafficPolicy, 'REGISTRY_ONLY');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
