/**
 * Golden files (istio-iptables' habit): a generator's output is compared with a checked-in file under
 * test/fixtures/; `REFRESH_GOLDEN=true npm test -- …` rewrites the files instead, to be reviewed in the diff.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The repository root, from dist/test/support (compiled) or test/support (source). */
export function repoRoot(): string {
  if (process.env.SIDELANE_ROOT) return process.env.SIDELANE_ROOT;
  for (const up of ['../../..', '../..']) {
    const dir = path.resolve(__dirname, up);
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'test', 'fixtures'))) return dir;
  }
  return path.resolve(__dirname, '../../..');
}

export function fixturePath(...parts: string[]): string {
  return path.join(repoRoot(), 'test', 'fixtures', ...parts);
}

export function readFixture(...parts: string[]): string {
  return readFileSync(fixturePath(...parts), 'utf8');
}

export function assertGolden(actual: string, ...parts: string[]): void {
  const file = fixturePath(...parts);
  if (process.env.REFRESH_GOLDEN === 'true') {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `golden file ${file} is missing; run with REFRESH_GOLDEN=true to create it`);
  assert.equal(actual, readFileSync(file, 'utf8'), `output differs from ${file} (REFRESH_GOLDEN=true regenerates it)`);
}
