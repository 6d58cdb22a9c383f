/**
 * Gate and fixture for tests that need root and network namespaces. Without root they are skipped loudly;
 * under CI=true a missing capability is a failure, never a silent skip.
 */
import type { TestContext } from 'node:test';
import { canUseNetns, Lab, type LabOptions } from '../../src/netns/lab';

export function netnsAvailable(t: TestContext): boolean {
  if (canUseNetns()) return true;
  const msg = 'SKIPPED: this test needs root and network namespaces (run the suite as root)';
  if (process.env.CI === 'true') throw new Error(`${msg}; CI=true makes this a failure`);
  process.stderr.write(`\n*** ${msg}: ${t.name} ***\n`);
  t.skip(msg);
  return false;
}

/** Runs `body` with a fresh lab, destroying it afterwards whatever happens. */
export async function withLab<T>(t: TestContext, options: LabOptions, body: (lab: Lab) => Promise<T>): Promise<T | undefined> {
  if (!netnsAvailable(t)) return undefined;
  const lab = await Lab.create(options);
  try {
    return await body(lab);
  } finally {
    await lab.destroy();
  }
}
