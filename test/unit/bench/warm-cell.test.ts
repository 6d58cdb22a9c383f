/**
 * When a cell's warm-up may stop: not before `--warmup`, then as soon as two consecutive slices agree within 15 %,
 * and at 4 × `--warmup` whatever the rates do (a noisy machine must not warm forever).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WARM_MAX_FACTOR, warmEnough } from '../../../src/bench/scenarios/wrk-load';

test('warm-up: at least --warmup, then until two slices agree, at most 4 × --warmup', () => {
  const w = 2000;
  assert.equal(warmEnough(1000, w, undefined, 600), false, 'first slice');
  assert.equal(warmEnough(2000, w, 600, 3200), false, 'still climbing after --warmup (a JIT compiling)');
  assert.equal(warmEnough(3000, w, 3200, 3500), true, 'steady: within 15 %');
  assert.equal(warmEnough(1000, w, 12000, 12100), false, 'steady but --warmup not over');
  assert.equal(warmEnough(2000, w, 12000, 12100), true, 'a proxy without JIT stops after --warmup');
  assert.equal(warmEnough(WARM_MAX_FACTOR * w, w, 1000, 5000), true, 'the cap');
  assert.equal(warmEnough(WARM_MAX_FACTOR * w - 1000, w, 1000, 5000), false);
});
