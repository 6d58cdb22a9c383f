/**
 * A small Dockerfile reader for tests (no Docker engine on the test machines): instructions with line
 * continuations joined, comments dropped, global ARG defaults substituted, grouped into build stages.
 */

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

export interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  const args = new Map<string, string>();
  const substitute = (s: string): string => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a: string, b: string) => args.get(a ?? b) ?? m);
  const stages: { from: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(l);
    if (!m) continue;
    const keyword = m[1].toUpperCase();
    const rest = m[2].trim();
    if (keyword === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      if (v !== undefined) args.set(k, v);
      continue;
    }
    if (keyword === 'FROM') {
      const parts = substitute(rest).split(/\s+/);
      const as = parts.findIndex((p) => p.toUpperCase() === 'AS');
      stages.push({ from: parts[0], name: as >= 0 ? parts[as + 1] : undefined, instructions: [] });
      continue;
    }
    stages.at(-1)?.instructions.push({ keyword, args: rest });
  }
  return stages;
}

export interface Copy {
  readonly from: string | undefined;
  readonly sources: readonly string[];
  readonly destination: string;
}

/** The COPY instructions of a stage, with `--from=` split out (other flags ignored). */
export function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, sources: paths.slice(0, -1), destination: paths[paths.length - 1] };
    });
}

/** The absolute path a COPY destination lands on, given the stage's WORKDIR at that point. */
export function resolveIn(workdir: string, destination: string): string {
  const joined = destination.startsWith('/') ? destination : `${workdir.replace(/\/$/, '')}/${destination.replace(/^\.\//, '')}`;
  return joined.replace(/\/\.$/, '').replace(/\/$/, '') || '/';
}
