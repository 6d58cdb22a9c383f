import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SidelaneError } from '../../../../src/errors';
import { parseWrk, parseWrkDuration, wrkArgv, wrkFailures } from '../../../../src/bench/tools/wrk';
import { readFixture } from '../../../support/golden-file';

test('wrkArgv: threads capped by connections, whole seconds, latency distribution, Connection: close for churn', () => {
  assert.deepEqual(wrkArgv({ url: 'http://198.18.0.11/', connections: 32, durationMs: 5000 }), [
    'wrk', '-t1', '-c32', '-d5s', '--latency', '--timeout', '5s', 'http://198.18.0.11/',
  ]);
  assert.deepEqual(wrkArgv({ url: 'http://x/', connections: 2, durationMs: 400, threads: 8, closeEachConnection: true }), [
    'wrk', '-t2', '-c2', '-d1s', '--latency', '--timeout', '5s', '-H', 'Connection: close', 'http://x/',
  ]);
});

test('wrk durations in every unit it prints', () => {
  assert.equal(parseWrkDuration('425.00us'), 0.425);
  assert.equal(parseWrkDuration('1.09ms'), 1.09);
  assert.equal(parseWrkDuration('2.00s'), 2000);
  assert.equal(parseWrkDuration('1.50m'), 90_000);
  assert.throws(() => parseWrkDuration('fast'), /expected a duration/);
});

test('a keep-alive report (recorded from wrk 4.1.0)', () => {
  const r = parseWrk(readFixture('bench', 'wrk-keepalive.txt'));
  assert.equal(r.requests, 74355);
  assert.equal(r.seconds, 1.1);
  assert.equal(r.requestsPerSecond, 67594.84);
  assert.deepEqual(r.latencyMs, { p50: 0.099, p75: 0.114, p90: 0.142, p99: 0.425 });
  assert.equal(wrkFailures(r), 0);
});

test('a Connection: close report, and socket errors and non-2xx counted as failures', () => {
  const r = parseWrk(readFixture('bench', 'wrk-close.txt'));
  assert.equal(r.requests, 12437);
  assert.equal(r.latencyMs.p99, 1.09);
  const withErrors = readFixture('bench', 'wrk-close.txt').replace(
    'Requests/sec:',
    '  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 5\nRequests/sec:',
  );
  assert.equal(wrkFailures(parseWrk(withErrors)), 15);
});

test('output that is not a wrk report is an error quoting its first line', () => {
  assert.throws(
    () => parseWrk('unable to connect to 198.18.0.11:81 Connection refused\n'),
    (err: unknown) => err instanceof SidelaneError && /wrk: could not read its report: unable to connect/.test(err.message),
  );
});
