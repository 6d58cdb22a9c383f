import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h2loadArgv, parseH2load, summariseH2loadLog } from '../../../../src/bench/tools/h2load';
import { readFixture } from '../../../support/golden-file';

test('h2loadArgv spreads the total rate over the clients (never more clients than requests per second)', () => {
  assert.deepEqual(h2loadArgv({ url: 'http://s/', rate: 2000, clients: 32, durationMs: 5000, warmupMs: 0, logFile: '/tmp/l' }), [
    'h2load', '--h1', '-c32', '--rps=62.5', '-D5', '--log-file=/tmp/l', 'http://s/',
  ]);
  assert.deepEqual(h2loadArgv({ url: 'http://s/', rate: 10, clients: 32, durationMs: 2000, warmupMs: 1000, logFile: '/l' }), [
    'h2load', '--h1', '-c10', '--rps=1', '-D2', '--warm-up-time=1', '--log-file=/l', 'http://s/',
  ]);
});

test('the summary line of h2load 1.52 (recorded)', () => {
  assert.deepEqual(parseH2load(readFixture('bench', 'h2load-stdout.txt')), {
    requests: 800,
    succeeded: 800,
    failed: 0,
    errored: 0,
    timeout: 0,
    status2xx: 800,
  });
  assert.throws(() => parseH2load('connect: Connection refused\n'), /h2load: could not read its report: connect: Connection refused/);
});

test('percentiles come from the per-request log, successful requests only', () => {
  const log = readFixture('bench', 'h2load-log.tsv');
  const lines = log.trim().split('\n');
  const s = summariseH2loadLog(log, 2);
  assert.equal(s.samples, lines.length);
  assert.equal(s.requestsPerSecond, lines.length / 2);
  const latencies = lines.map((l) => Number(l.split('\t')[2]) / 1000).sort((a, b) => a - b);
  assert.equal(s.maxMs, latencies.at(-1));
  assert.equal(s.p50Ms, latencies[Math.ceil(lines.length * 0.5) - 1]);
  // A failed request is not a latency sample.
  const withFailure = `${log}1795924749620999\t503\t9999999\n`;
  assert.equal(summariseH2loadLog(withFailure, 2).maxMs, s.maxMs);
  assert.throws(() => summariseH2loadLog('1\t200\n', 1), /expected 'start<TAB>status<TAB>latency'/);
  assert.throws(() => summariseH2loadLog('', 1), /no successful request/);
});
