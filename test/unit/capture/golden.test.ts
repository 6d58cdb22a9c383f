/**
 * Golden files for every mode × backend × family (test/fixtures/capture/<scenario>.<backend>.<family>.golden),
 * compared byte for byte: exactly what `sidelane init --dry-run` applies in a clean namespace whose ephemeral
 * port range is 32768-60999. `REFRESH_GOLDEN=true npm test -- unit/capture/golden` regenerates them.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { buildPlan, describeIptablesPlan, describeNftPlan } from '../../../src/capture/build';
import { captureOptionsFromFlags } from '../../../src/capture/validation';
import { assertGolden, fixturePath } from '../../support/golden-file';
import { SCENARIOS, environment } from './scenarios';

const header = (command: string, what: string): string => `# ${command}  (${what}; ephemeral ports 32768-60999)\n`;

for (const s of SCENARIOS) {
  test(`golden: ${s.name}`, () => {
    const options = captureOptionsFromFlags(s.flags);
    const v4 = buildPlan(options, environment(false));
    const dual = buildPlan(options, environment(true));
    assertGolden(header(s.command, 'iptables, IPv4') + describeIptablesPlan(dual, 4), 'capture', `${s.name}.iptables.ipv4.golden`);
    assertGolden(header(s.command, 'iptables, IPv6') + describeIptablesPlan(dual, 6), 'capture', `${s.name}.iptables.ipv6.golden`);
    assertGolden(header(`${s.command} --no-ipv6`, 'nft, IPv4 only') + describeNftPlan(v4), 'capture', `${s.name}.nft.ipv4.golden`);
    assertGolden(header(`${s.command} --ipv6`, 'nft, IPv4 and IPv6') + describeNftPlan(dual), 'capture', `${s.name}.nft.dual.golden`);
  });
}

test('every golden file belongs to a scenario (no stale files)', () => {
  const expected = new Set(SCENARIOS.flatMap((s) => ['iptables.ipv4', 'iptables.ipv6', 'nft.ipv4', 'nft.dual'].map((k) => `${s.name}.${k}.golden`)));
  const present = readdirSync(fixturePath('capture')).filter((f) => f.endsWith('.golden'));
  assert.deepEqual(present.filter((f) => !expected.has(f)), []);
  assert.equal(present.length, expected.size);
});
