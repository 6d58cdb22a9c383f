import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveProtocol } from '../../../src/config/protocol';
import { formatDuration, parseDurationMs } from '../../../src/config/duration';

test('protocol: declared wins, then the port name prefix (Istio convention), else AUTO', () => {
  assert.deepEqual(resolveProtocol('http', 'tcp-x'), { declared: 'HTTP', effective: 'HTTP' });
  assert.deepEqual(resolveProtocol('MYSQL', undefined), { declared: 'MYSQL', effective: 'TCP' });
  assert.deepEqual(resolveProtocol(undefined, 'http-web'), { declared: 'HTTP', effective: 'HTTP' });
  assert.deepEqual(resolveProtocol(undefined, 'grpc-web-api'), { declared: 'GRPC-WEB', effective: 'TCP' });
  assert.deepEqual(resolveProtocol(undefined, 'redis'), { declared: 'REDIS', effective: 'TCP' });
  assert.deepEqual(resolveProtocol(undefined, 'httpx'), { declared: 'AUTO', effective: 'AUTO' });
  assert.deepEqual(resolveProtocol(undefined, undefined), { declared: 'AUTO', effective: 'AUTO' });
  assert.deepEqual(resolveProtocol('AUTO', 'http'), { declared: 'AUTO', effective: 'AUTO' });
});

test('durations', () => {
  assert.equal(parseDurationMs('250ms'), 250);
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs('2m'), 120_000);
  assert.equal(parseDurationMs('1h'), 3_600_000);
  assert.equal(parseDurationMs(42), 42);
  assert.equal(parseDurationMs('5'), undefined);
  assert.equal(parseDurationMs('5 s'), undefined);
  assert.equal(parseDurationMs(-1), undefined);
  assert.equal(formatDuration(1500), '1500ms');
  assert.equal(formatDuration(30_000), '30s');
  assert.equal(formatDuration(3_600_000), '1h');
});
