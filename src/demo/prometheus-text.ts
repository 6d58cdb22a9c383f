/**
 * Reads Prometheus' text exposition format (what /stats/prometheus serves) into samples, so the demo can show a
 * few series of a sidecar's metrics. Only what the format defines for samples: `name{label="value",…} value`.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/y;

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL.lastIndex = 0;
    for (let l = LABEL.exec(body); l; l = LABEL.exec(body)) labels[l[1]!] = unescape(l[2]!);
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** Sums the samples of a metric grouped by some of their labels. */
export function sumBy(samples: readonly Sample[], name: string, by: readonly string[], where: (l: Readonly<Record<string, string>>) => boolean = () => true): Sample[] {
  const groups = new Map<string, Sample>();
  for (const s of samples) {
    if (s.name !== name || !where(s.labels)) continue;
    const labels = Object.fromEntries(by.map((k) => [k, s.labels[k] ?? '']));
    const key = JSON.stringify(labels);
    const prev = groups.get(key);
    groups.set(key, { name, labels, value: (prev?.value ?? 0) + s.value });
  }
  return [...groups.values()];
}
