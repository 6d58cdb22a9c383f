import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Report, formatTable, selectColumns, wrap } from '../../../src/demo/report';
import { readFixture } from '../../support/golden-file';

test('selectColumns keeps the named columns and chosen rows of a proxy-config table', () => {
  const routes = readFixture('golden', 'proxy-config', 'routes.txt');
  const out = selectColumns(routes, ['NAME', 'VHOST NAME', 'DESTINATION'], (l) => l.includes('ratings'));
  const lines = out.split('\n');
  assert.match(lines[0]!, /^NAME +VHOST NAME +DESTINATION$/);
  assert.ok(lines.length >= 2);
  for (const l of lines.slice(1)) assert.match(l, /ratings\.default\.svc\.cluster\.local:9080 +outbound\|9080\|\|ratings\.default\.svc\.cluster\.local$/);
});

test('tables align columns; paragraphs wrap at the width with hanging list items', () => {
  assert.equal(formatTable(['A', 'BB'], [['xxx', 'y'], ['z', '']]), 'A     BB\nxxx   y\nz');
  assert.equal(wrap('one two three four', 9), 'one two\nthree\nfour');
  assert.equal(wrap('  - alpha beta gamma', 14), '  - alpha beta\n    gamma');
});

test('a report writes headings, commands and indented output; emphasis only when asked', () => {
  let out = '';
  const r = new Report((s) => (out += s), { width: 40 });
  r.step(3, 9, 'Capture');
  r.command('sidelane capture show', 'PKTS  WHY\n1     x\n');
  assert.equal(out, '\n[3/9] Capture\n-------------\n\n  $ sidelane capture show\n    PKTS  WHY\n    1     x\n');
  let bold = '';
  new Report((s) => (bold += s), { emphasis: true }).title('T');
  assert.equal(bold, '\x1b[1mT\x1b[0m\n=\n\n');
});
