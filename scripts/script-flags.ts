/**
 * Flag values of the soak and bench scripts: a bad value is one line naming the flag and what was expected, then the
 * usage, exit 2 — as the CLI does.
 */
export function numericFlag(script: string, usage: string, name: string, text: string, min: number, max: number, integer = false): number {
  const n = Number(text);
  if ((integer ? !Number.isInteger(n) : !Number.isFinite(n)) || n < min || n > max) {
    process.stderr.write(`${script}: --${name} expects ${integer ? 'an integer' : 'a number'} ${min}-${max}, got "${text}"\n${usage}\n`);
    process.exit(2);
  }
  return n;
}

/** Scripts that build network namespaces need root: one line saying so and why, exit 1. */
export function requireRoot(script: string, why: string): void {
  if (process.getuid?.() === 0) return;
  process.stderr.write(`${script}: needs root (${why}); run with sudo\n`);
  process.exit(1);
}
