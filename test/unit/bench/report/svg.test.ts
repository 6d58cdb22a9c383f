import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MODE_COLOURS, niceMax, renderSvg } from '../../../../src/bench/report/svg';
import { assertGolden } from '../../../support/golden-file';
import { syntheticResult } from '../../../support/bench-result';

test('the SVG chart (golden): throughput and latency panels, bars normalised to direct', () => {
  const svg = renderSvg(syntheticResult());
  assertGolden(svg, 'bench', 'chart.golden.svg');
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  // One bar per mode and charted metric: keep-alive, churn, bulk-1, bulk-8 (4 modes each) + l7 (2) + 2 latency (4 each).
  const bars = svg.match(/<rect [^>]*><title>/g) ?? [];
  assert.equal(bars.length, 4 * 4 + 2 + 2 * 4);
  assert.ok(svg.includes(`fill="${MODE_COLOURS['tproxy+hook']}"><title>tproxy+hook: 0.40× direct</title>`));
  // Every opened element is closed (the file is well-formed enough for browsers and GitHub).
  const opened = (svg.match(/<(svg|style|text|rect|title|line)(\s[^>]*)?>/g) ?? []).filter((tag) => !tag.endsWith('/>')).length;
  const closed = (svg.match(/<\/(svg|style|text|rect|title|line)>/g) ?? []).length;
  assert.equal(opened, closed);
});

test('axis maxima are round numbers', () => {
  assert.equal(niceMax(0.4), 0.5);
  assert.equal(niceMax(1.08), 1.25);
  assert.equal(niceMax(7), 8);
  assert.equal(niceMax(23), 30);
});
