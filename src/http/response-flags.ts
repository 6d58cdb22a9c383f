/**
 * Envoy's response flags: the short letters access logs and metrics use to say why a request or connection ended
 * the way it did (NR no route, UH no healthy upstream, UF connect failure, UT timeout, UO overflow, URX retries
 * exhausted, …). Kept as a bit set in Envoy's order, so formatting is deterministic and setting a flag is one OR.
 */

/** [letters, meaning], in Envoy's enum order (the order flags print in). */
const FLAGS = [
  ['LH', 'failed local health check'],
  ['UH', 'no healthy upstream host'],
  ['UT', 'upstream request timeout'],
  ['LR', 'connection local reset'],
  ['UR', 'upstream remote reset'],
  ['UF', 'upstream connection failure'],
  ['UC', 'upstream connection termination'],
  ['UO', 'upstream overflow (circuit breaking)'],
  ['NR', 'no route configured'],
  ['DI', 'delay injected'],
  ['FI', 'fault injected'],
  ['RL', 'rate limited'],
  ['UAEX', 'unauthorized external service'],
  ['RLSE', 'rate limit service error'],
  ['DC', 'downstream connection termination'],
  ['URX', 'upstream retry limit exceeded'],
  ['SI', 'stream idle timeout'],
  ['IH', 'invalid Envoy request headers'],
  ['DPE', 'downstream protocol error'],
  ['UMSDR', 'upstream max stream duration reached'],
  ['RFCF', 'response from cache filter'],
  ['NFCF', 'no filter config found'],
  ['DT', 'duration timeout'],
  ['UPE', 'upstream protocol error'],
  ['NC', 'no cluster found'],
  ['OM', 'overload manager'],
  ['DF', 'DNS resolution failed'],
  ['DO', 'drop overload'],
  ['DR', 'downstream remote reset'],
] as const;

export type FlagLetters = (typeof FLAGS)[number][0];

const BIT = Object.fromEntries(FLAGS.map(([letters], i) => [letters, 1 << i])) as Record<FlagLetters, number>;

/** Bit values: `flags |= ResponseFlag.UH`. */
export const ResponseFlag: Readonly<Record<FlagLetters, number>> = BIT;

/** `UF,URX`, or `-` when no flag is set (Envoy's access-log format). */
export function formatResponseFlags(flags: number): string {
  if (flags === 0) return '-';
  let out = '';
  for (let i = 0; i < FLAGS.length; i++) {
    if (flags & (1 << i)) out = out === '' ? FLAGS[i]![0] : `${out},${FLAGS[i]![0]}`;
  }
  return out;
}

/** Parses `UF,URX` back into bits (unknown letters are ignored). */
export function parseResponseFlags(text: string): number {
  if (text === '-' || text === '') return 0;
  let flags = 0;
  for (const part of text.split(',')) flags |= (BIT as Record<string, number>)[part] ?? 0;
  return flags;
}

export function describeResponseFlag(letters: FlagLetters): string {
  return FLAGS.find(([l]) => l === letters)![1];
}
