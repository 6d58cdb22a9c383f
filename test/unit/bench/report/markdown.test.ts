import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderMarkdown } from '../../../../src/bench/report/markdown';
import { assertGolden } from '../../../support/golden-file';
import { syntheticResult } from '../../../support/bench-result';

test('the Markdown report of a run (golden): machine, ratio tables, conntrack, per-scenario spreads, failures', () => {
  const md = renderMarkdown(syntheticResult());
  assertGolden(md, 'bench', 'report.golden.md');
  assert.match(md, /\| Keep-alive HTTP \(TCP relay\) \| requests\/s ↑ \| 0\.30× \| 0\.40× \| 0\.35× \| 0\.50× \| — \|/);
  assert.match(md, /### Failed cells\n\n- repetition 3, `churn`, `tproxy`: wrk: 900 errors/);
});
