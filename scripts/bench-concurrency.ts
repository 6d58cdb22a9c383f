#!/usr/bin/env node
/**
 * `--concurrency` scaling (issue 11): the same `sidelane bench` cells at each worker count, sidelane's workers and
 * HAProxy's threads alike, so the table shows how each data plane scales on this machine, not only how fast it is.
 * Each repetition runs one `sidelane bench --repeat 1 --concurrency N` per N, the order of the N rotating between
 * repetitions (as the bench rotates modes), and the report gives per N the median over repetitions and the scaling
 * (value at the largest N / value at the smallest). Needs root (the bench does).
 *   sudo npm run bench:concurrency -- [--concurrency 1,2] [--repeat 2] [--scenarios keep-alive,churn,l7]
 *     [--modes tproxy+hook,haproxy,haproxy-http] [--duration 5s] [--markdown FILE] [--json FILE]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchResult } from '../src/bench/result';
import { rotate } from '../src/bench/schedule';
import { median } from '../src/bench/statistics';
import { numericFlag, requireRoot } from './script-flags';

const CLI = path.resolve(__dirname, '..', 'src', 'cli', 'main.js');
const SCRIPT = 'bench-concurrency';
const USAGE =
  'usage: sudo npm run bench:concurrency -- [--concurrency 1,2] [--repeat 2] [--scenarios LIST] [--modes LIST] [--duration D] [--markdown FILE] [--json FILE]';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) {
    process.stderr.write(`${SCRIPT}: --${name} needs a value\n${USAGE}\n`);
    process.exit(2);
  }
  return v;
}

interface Row {
  readonly scenario: string;
  readonly title: string;
  readonly metric: string;
  readonly label: string;
  readonly unit: string;
  readonly mode: string;
  /** Concurrency → the values over the repetitions. */
  readonly values: Map<number, number[]>;
}

function main(): void {
  requireRoot(SCRIPT, 'the bench creates network namespaces and capture rules');
  const levels = arg('concurrency', '1,2')
    .split(',')
    .map((s) => numericFlag(SCRIPT, USAGE, 'concurrency', s.trim(), 1, 64, true));
  if (new Set(levels).size !== levels.length || levels.length < 2) {
    process.stderr.write(`${SCRIPT}: --concurrency expects two or more distinct worker counts, e.g. 1,2\n${USAGE}\n`);
    process.exit(2);
  }
  const repeat = numericFlag(SCRIPT, USAGE, 'repeat', arg('repeat', '2'), 1, 20, true);
  const scenarios = arg('scenarios', 'keep-alive,churn,l7');
  const modes = arg('modes', 'tproxy+hook,haproxy,haproxy-http');
  const duration = arg('duration', '5s');
  const work = mkdtempSync(path.join(os.tmpdir(), 'sidelane-bench-concurrency-'));
  const rows = new Map<string, Row>();
  const load: string[] = [];
  try {
    for (let rep = 0; rep < repeat; rep++) {
      for (const n of rotate(levels, rep)) {
        const json = path.join(work, `c${n}-r${rep}.json`);
        const argv = [CLI, 'bench', '--concurrency', String(n), '--repeat', '1', '--modes', modes, '--scenarios', scenarios, '--duration', duration, '--json', json];
        process.stderr.write(`${SCRIPT}: repetition ${rep + 1}/${repeat}, --concurrency ${n}\n`);
        const r = spawnSync(process.execPath, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
        if (r.status !== 0) throw new Error(`sidelane bench --concurrency ${n} exited ${r.status ?? r.signal}`);
        const result = JSON.parse(readFileSync(json, 'utf8')) as BenchResult;
        load.push(result.machine.loadAverageStart.join(' / '));
        for (const info of result.scenarios) {
          for (const spec of info.metrics.filter((m) => m.headline || m.key === 'proxy_cpu_cores')) {
            for (const cell of result.cells.filter((c) => c.scenario === info.name && c.error === undefined)) {
              const v = cell.metrics[spec.key];
              if (v === undefined) continue;
              const key = `${info.name}\0${spec.key}\0${cell.mode}`;
              let row = rows.get(key);
              if (!row) {
                row = { scenario: info.name, title: info.title, metric: spec.key, label: `${spec.label} ${spec.better === 'higher' ? '↑' : '↓'}`, unit: spec.unit, mode: cell.mode, values: new Map() };
                rows.set(key, row);
              }
              row.values.set(n, [...(row.values.get(n) ?? []), v]);
            }
          }
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const first = Math.min(...levels);
  const last = Math.max(...levels);
  const fmt = (v: number | undefined): string =>
    v === undefined ? '—' : v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(v >= 10 ? 1 : 2);
  const lines = [
    `## --concurrency scaling — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `${os.cpus().length} cores; ${repeat} repetition(s), worker counts alternating; ${duration} per cell; sidelane \`run --concurrency N\`, HAProxy \`nbthread N\`. Medians over repetitions; scaling = value at ${last} / value at ${first}. Load average at the start of each bench: ${load.join('; ')}.`,
    '',
    `| scenario | metric | mode | ${levels.map((n) => `N=${n}`).join(' | ')} | scaling |`,
    `|---|---|---|${levels.map(() => '---:').join('|')}|---:|`,
  ];
  const out: unknown[] = [];
  for (const row of rows.values()) {
    const med = levels.map((n) => {
      const vs = row.values.get(n);
      return vs && vs.length > 0 ? median(vs) : undefined;
    });
    const a = med[levels.indexOf(first)];
    const b = med[levels.indexOf(last)];
    const scaling = a !== undefined && b !== undefined && a !== 0 ? b / a : undefined;
    lines.push(`| ${row.title} | ${row.label} (${row.unit}) | \`${row.mode}\` | ${med.map(fmt).join(' | ')} | ${scaling === undefined ? '—' : `${scaling.toFixed(2)}×`} |`);
    out.push({ scenario: row.scenario, metric: row.metric, mode: row.mode, values: Object.fromEntries(row.values), medians: Object.fromEntries(levels.map((n, i) => [n, med[i]])), scaling });
  }
  const markdown = `${lines.join('\n')}\n`;
  process.stdout.write(markdown);
  const md = arg('markdown', '');
  if (md) writeFileSync(md, markdown);
  const json = arg('json', '');
  if (json) writeFileSync(json, `${JSON.stringify({ levels, repeat, duration, rows: out }, null, 2)}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`${SCRIPT}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
