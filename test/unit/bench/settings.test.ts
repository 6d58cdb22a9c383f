import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../../src/errors';
import { FULL_DEFAULTS, MODE_NAMES, QUICK_DEFAULTS, SCENARIO_NAMES, settingsFromFlags } from '../../../src/bench/settings';

test('no flags: every mode and scenario, the full defaults, two workers (sidelane run\'s default)', () => {
  const s = settingsFromFlags({});
  assert.deepEqual(s.modes, [...MODE_NAMES]);
  assert.deepEqual(s.scenarios, [...SCENARIO_NAMES]);
  assert.equal(s.repeat, FULL_DEFAULTS.repeat);
  assert.equal(s.durationMs, FULL_DEFAULTS.durationMs);
  assert.equal(s.idleConnections, 5000);
  assert.equal(s.concurrency, 2);
  assert.equal(s.quick, false);
  assert.deepEqual(s.outputs, { json: undefined, svg: undefined, markdown: undefined });
});

test('--quick lowers the defaults; explicit flags still win', () => {
  const q = settingsFromFlags({ quick: true });
  assert.equal(q.repeat, QUICK_DEFAULTS.repeat);
  assert.equal(q.durationMs, QUICK_DEFAULTS.durationMs);
  const both = settingsFromFlags({ quick: true, repeat: '2', duration: '3s', idleConnections: '800' });
  assert.equal(both.repeat, 2);
  assert.equal(both.durationMs, 3000);
  assert.equal(both.idleConnections, 800);
});

test('lists are validated, deduplicated and kept in canonical order', () => {
  const s = settingsFromFlags({ modes: 'haproxy, direct,tproxy+hook,direct', scenarios: 'conntrack,keep-alive' });
  assert.deepEqual(s.modes, ['direct', 'tproxy+hook', 'haproxy']);
  assert.deepEqual(s.scenarios, ['keep-alive', 'conntrack']);
});

test('bad values are usage errors naming the flag and what was expected', () => {
  const cases: [Parameters<typeof settingsFromFlags>[0], RegExp][] = [
    [{ modes: 'direct,envoy' }, /--modes: unknown 'envoy'; expected a comma-separated list of direct, redirect/],
    [{ modes: ' , ' }, /--modes: expected a comma-separated list/],
    [{ scenarios: 'speed' }, /--scenarios: unknown 'speed'/],
    [{ repeat: '0' }, /--repeat: expected an integer 1-100, got '0'/],
    [{ duration: 'soon' }, /--duration: expected a duration like 500ms/],
    [{ duration: '100ms' }, /--duration: expected 500ms to 10m/],
    [{ connections: '-3' }, /--connections: expected an integer/],
    [{ idleConnections: '15000' }, /--idle-connections: expected an integer 1-9000/],
    [{ concurrency: 'two' }, /--concurrency: expected an integer 1-64/],
    [{ json: '' }, /--json: expected a file path/],
  ];
  for (const [flags, message] of cases) {
    assert.throws(() => settingsFromFlags(flags), (err: unknown) => err instanceof UsageError && message.test(err.message), JSON.stringify(flags));
  }
});
