/**
 * Scrapes Prometheus text output and parses it with the reference parser — the official Python client's
 * `prometheus_client.parser` (Debian's python3-prometheus-client) — into flat samples.
 */
import { execFileSync } from 'node:child_process';
import type { Pod } from '../../src/netns/lab';

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
  /** The metric family's declared type (counter, gauge, histogram…). */
  readonly type: string;
}

const PARSER = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value, "type": fam.type})
print(json.dumps(out))
`;

export function parsePrometheus(text: string): Sample[] {
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', PARSER], { input: text, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as Sample[];
}

export async function scrape(pod: Pod, port = 15090): Promise<Sample[]> {
  const r = await pod.exec('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${port}/stats/prometheus`]);
  return parsePrometheus(r.stdout);
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sum(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

export function samplesNamed(samples: readonly Sample[], name: string): Sample[] {
  return samples.filter((s) => s.name === name);
}
