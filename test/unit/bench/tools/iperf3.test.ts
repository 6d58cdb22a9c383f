import assert from 'node:assert/strict';
import { test } from 'node:test';
import { iperf3Argv, parseIperf3 } from '../../../../src/bench/tools/iperf3';
import { readFixture } from '../../../support/golden-file';

test('iperf3Argv: JSON report, streams and whole seconds', () => {
  assert.deepEqual(iperf3Argv({ server: '198.18.0.11', port: 5201, streams: 8, durationMs: 5000 }), [
    'iperf3', '-c', '198.18.0.11', '-p', '5201', '-P', '8', '-t', '5', '-J',
  ]);
});

test('a 2-stream JSON report (recorded from iperf 3.12): the receiver-side sum is the throughput', () => {
  const r = parseIperf3(readFixture('bench', 'iperf3-2streams.json'));
  assert.equal(r.receivedBitsPerSecond, 16915129230.625076);
  assert.equal(r.sentBitsPerSecond, 16961485409.868496);
  assert.equal(r.retransmits, 0);
  assert.equal(r.seconds, 1.003191);
});

test("iperf3's own error and non-JSON output are errors", () => {
  assert.throws(() => parseIperf3('{"start":{},"intervals":[],"end":{},"error":"unable to connect to server: Connection refused"}'), /iperf3: unable to connect to server/);
  assert.throws(() => parseIperf3('iperf3: error - the server is busy'), /expected a JSON report/);
  assert.throws(() => parseIperf3('{"end":{}}'), /no end.sum_received/);
});
