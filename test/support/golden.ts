/**
 * Golden files (istio-iptables' habit): compare generated text with a checked-in file under test/fixtures/golden;
 * REFRESH_GOLDEN=true rewrites the file instead, so a deliberate change is one command and one reviewable diff.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function fixturesDir(): string {
  return path.join(process.env.SIDELANE_ROOT ?? path.resolve(__dirname, '../../..'), 'test', 'fixtures');
}

export function assertGolden(name: string, actual: string): void {
  const file = path.join(fixturesDir(), 'golden', name);
  if (process.env.REFRESH_GOLDEN === 'true' || !existsSync(file)) {
    if (process.env.REFRESH_GOLDEN !== 'true' && process.env.CI === 'true') assert.fail(`golden file ${file} is missing (run with REFRESH_GOLDEN=true)`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  const expected = readFileSync(file, 'utf8');
  assert.equal(actual, expected, `output differs from ${file} (REFRESH_GOLDEN=true regenerates it after a deliberate change)`);
}

export function fixture(rel: string): string {
  return path.join(fixturesDir(), rel);
}
