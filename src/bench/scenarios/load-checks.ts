/**
 * What makes a load-generator result trustworthy enough to report: it did real work, and errors stayed rare (a
 * mode that drops or resets connections must show up as failing, not as a fast mode with a few errors).
 */
import { SidelaneError } from '../../errors';

/** Errors above this share of the work fail the cell. */
export const MAX_ERROR_SHARE = 0.01;

/** `work` counts the attempts (requests, connections), `failures` those that failed. */
export function assertSound(what: string, work: number, failures: number): void {
  if (work <= 0) throw new SidelaneError('SIDELANE_ERR_BENCH', `${what}: nothing completed`);
  if (failures > work * MAX_ERROR_SHARE) {
    throw new SidelaneError('SIDELANE_ERR_BENCH', `${what}: ${failures} failed of ${work} (more than ${MAX_ERROR_SHARE * 100}%)`);
  }
}
