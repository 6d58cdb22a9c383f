/**
 * Randomness for load balancing, weighted route selection and retry jitter, injected so tests can use a seeded
 * sequence and assert exact picks.
 */

export interface RandomSource {
  /** A number in [0, 1). */
  next(): number;
}

export const mathRandom: RandomSource = { next: Math.random };

/** mulberry32: a small, fast, well-distributed 32-bit generator; the same seed gives the same sequence. */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return {
    next(): number {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** An integer in [0, n). */
export function randomIndex(random: RandomSource, n: number): number {
  return Math.floor(random.next() * n);
}
