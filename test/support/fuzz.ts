/**
 * Budgets for the suite's property-based fuzz tests (fast-check): each property runs until its run count or its
 * time limit is reached, whichever comes first, and reports what it did (runs, seconds, seed) as a test diagnostic.
 * A failure throws fast-check's report (seed, path, shrunk counterexample). The environment raises the budget or
 * replays a failure: SIDELANE_FUZZ_SECONDS, SIDELANE_FUZZ_RUNS, SIDELANE_FUZZ_SEED (+ SIDELANE_FUZZ_PATH).
 */
import type { TestContext } from 'node:test';
import fc from 'fast-check';

export interface FuzzBudget {
  /** Stop after this many runs... */
  readonly runs: number;
  /** ...or after this many seconds. */
  readonly seconds: number;
}

/** What one property did, for the test's diagnostics and the docs' numbers. */
export interface FuzzReport {
  readonly runs: number;
  readonly seconds: number;
  readonly seed: number;
  /** The time limit ended it (not the run count). */
  readonly interrupted: boolean;
}

const UNBOUNDED_RUNS = 2 ** 31 - 1;

function positive(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${raw}: expected a positive number`);
  return n;
}

/**
 * The budget after the environment: SIDELANE_FUZZ_SECONDS alone means "run for this long" (no run cap),
 * SIDELANE_FUZZ_RUNS alone "run this many" (no time cap), both: whichever comes first.
 */
export function effectiveBudget(defaults: FuzzBudget): FuzzBudget {
  const seconds = positive('SIDELANE_FUZZ_SECONDS');
  const runs = positive('SIDELANE_FUZZ_RUNS');
  if (seconds === undefined && runs === undefined) return defaults;
  return { runs: runs !== undefined ? Math.floor(runs) : UNBOUNDED_RUNS, seconds: seconds ?? (runs !== undefined ? 24 * 3600 : defaults.seconds) };
}

function parameters<Ts>(budget: FuzzBudget): fc.Parameters<Ts> {
  const rawSeed = process.env.SIDELANE_FUZZ_SEED;
  const seed = rawSeed === undefined || rawSeed === '' ? undefined : Number(rawSeed);
  if (seed !== undefined && !Number.isInteger(seed)) throw new Error(`SIDELANE_FUZZ_SEED=${rawSeed}: expected an integer (the seed a failure printed)`);
  const replayPath = process.env.SIDELANE_FUZZ_PATH;
  return {
    numRuns: budget.runs,
    interruptAfterTimeLimit: Math.round(budget.seconds * 1000),
    markInterruptAsFailure: false,
    ...(seed !== undefined ? { seed } : {}),
    ...(seed !== undefined && replayPath ? { path: replayPath } : {}),
  };
}

function report<Ts>(t: TestContext, name: string, details: fc.RunDetails<Ts>, started: number): FuzzReport {
  const r: FuzzReport = {
    runs: details.numRuns,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    seed: details.seed,
    interrupted: details.interrupted,
  };
  t.diagnostic(`fuzz ${name}: ${r.runs} runs in ${r.seconds} s (seed ${r.seed}${r.interrupted ? ', time limit reached' : ''})`);
  if (details.failed) {
    const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance ?? '');
    const message = `${fc.defaultReportMessage(details) ?? 'property failed'}\nError: ${cause}`;
    throw new Error(
      `fuzz ${name} failed; replay with SIDELANE_FUZZ_SEED=${details.seed} SIDELANE_FUZZ_PATH=${details.counterexamplePath ?? ''}, ` +
        `and add the counterexample as a regression test\n${message}`,
    );
  }
  return r;
}

/** Runs a synchronous property within its budget. */
export function fuzz<Ts>(t: TestContext, name: string, property: fc.IProperty<Ts>, defaults: FuzzBudget): FuzzReport {
  const started = performance.now();
  const details = fc.check(property, parameters<Ts>(effectiveBudget(defaults)));
  return report(t, name, details, started);
}

/** Runs an asynchronous property (real sockets) within its budget. */
export async function fuzzAsync<Ts>(t: TestContext, name: string, property: fc.IAsyncProperty<Ts>, defaults: FuzzBudget): Promise<FuzzReport> {
  const started = performance.now();
  const details = await fc.check(property, parameters<Ts>(effectiveBudget(defaults)));
  return report(t, name, details, started);
}

/** A test timeout that leaves room for the budget (the time limit is checked between runs, not inside one). */
export function fuzzTimeoutMs(defaults: FuzzBudget, slackMs = 30_000): number {
  return Math.round(effectiveBudget(defaults).seconds * 1000) + slackMs;
}
