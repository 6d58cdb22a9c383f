/**
 * The fd-exhaustion log line: the first refusal is reported at once, a storm of later ones becomes one summary line
 * per interval with the counts, and a quiet period lets the next refusal be reported at once again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FdExhaustionLog, FD_EXHAUSTION_MESSAGE } from '../../../src/telemetry/fd-exhaustion-log';
import { ManualClock } from '../../../src/upstream/clock';

test('one line at once, then at most one summary per interval with what was refused meanwhile', async () => {
  const clock = new ManualClock(1000);
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  const log = new FdExhaustionLog({ warn: (fields, message) => lines.push({ fields, message }), clock, intervalMs: 50 });
  log.note({ where: 'connect', code: 'EMFILE', refused: 1 });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.message.startsWith(FD_EXHAUSTION_MESSAGE));
  assert.deepEqual(lines[0]!.fields, { code: 'EMFILE', refusedAccepting: 0, refusedConnecting: 1, intervalMs: 50 });
  for (let i = 0; i < 500; i++) log.note({ where: i % 2 ? 'accept' : 'connect', code: 'EMFILE', refused: 1 });
  assert.equal(lines.length, 1, 'a storm within the interval writes nothing more yet');
  clock.advance(50);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(lines.length, 2, 'the summary arrives when the interval is over');
  assert.deepEqual(lines[1]!.fields, { code: 'EMFILE', refusedAccepting: 250, refusedConnecting: 250, intervalMs: 50 });
  clock.advance(1000);
  log.note({ where: 'accept', code: 'ENFILE', refused: 3 });
  assert.equal(lines.length, 3, 'after a quiet interval the next refusal is reported at once');
  assert.match(lines[2]!.message, /ENFILE; 3 refused/);
  log.stop();
});
