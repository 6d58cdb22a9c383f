#!/usr/bin/env node
/**
 * The integrity and backpressure soak (issue 10; not a test): the mesh of test/e2e/reliability/integrity.test.ts
 * (real `sidelane run` sidecars in network namespaces) with the full sizes. Integrity: --bytes (default 1 GiB) of
 * deterministic pseudo-random data through every capture path (inbound TPROXY, hook, outbound TPROXY fallback; TCP
 * on the native and the js data path, HTTP uploads and downloads), sha256 compared at both ends. Backpressure:
 * --backpressure-bytes (default 1 GiB) per case with a reader that takes 2 MiB/s for --slow-seconds (default 30) and
 * then everything, the sidecar's RSS (supervisor + workers) sampled every 200 ms against its idle baseline + 64 MiB.
 *   sudo node dist/scripts/soak-integrity.js [--bytes 1GiB] [--backpressure-bytes 1GiB] [--slow-seconds 30]
 *     [--only integrity|backpressure] [--json FILE]        (also: npm run soak:integrity -- --bytes 1GiB)
 * Prints one table per part; exits 1 if any stream was not intact or any peak passed its ceiling.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { canUseNetns, Lab } from '../src/netns/lab';
import { IntegrityMesh, type CapturePath, type Proto } from '../test/support/integrity-mesh';
import { BACKPRESSURE_CASES, casesFor, measureBaseline, runBackpressureCase, RSS_ALLOWANCE, SLOW_RATE, type BackpressureOutcome, type SlowReader } from '../test/support/backpressure';
import { MiB, mib, RssSampler } from '../test/support/rss-sampler';

const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: MiB, g: 1e9, gb: 1e9, gib: 1024 * MiB };

/** "1GiB", "256MiB", "100MB", "4096" → bytes. */
export function parseSize(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Math.round(Number(m[1]) * unit) : NaN;
  if (!(bytes >= MiB)) {
    process.stderr.write(`soak-integrity: ${flag} expects a size of at least 1MiB like 1GiB, 256MiB or 100MB, got '${text}'\n`);
    process.exit(2);
  }
  return bytes;
}

interface IntegrityRow {
  path: string;
  bytes: number;
  seconds: number;
  mbPerS: number;
  match: boolean;
  rssPeakMiB: number;
  /** Each process of the sidecar at the peak (supervisor first). */
  rssAtPeakMiB: number[];
  problems: readonly string[];
}

function pad(cells: readonly string[], widths: readonly number[]): string {
  return `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
}

function markdown(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [pad(head, widths), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map((r) => pad(r, widths))].join('\n');
}

async function integrity(mesh: IntegrityMesh, bytes: number): Promise<IntegrityRow[]> {
  const rows: IntegrityRow[] = [];
  const one = async (capture: CapturePath, proto: Proto): Promise<void> => {
    const sampler = new RssSampler(mesh.proxyFor(capture).process.pid!, 200).start();
    const o = await mesh.run({ capture, proto, bytes, streams: proto === 'tcp' ? 6 : 4 });
    const series = sampler.stop();
    const row = {
      path: o.label,
      bytes,
      seconds: o.ms / 1000,
      mbPerS: o.mbPerS,
      match: o.problems.length === 0 && o.bytes === bytes,
      rssPeakMiB: series.peak / MiB,
      rssAtPeakMiB: (series.atPeak?.byPid ?? []).map(([, b]) => Number(mib(b))),
      problems: o.problems,
    };
    rows.push(row);
    process.stderr.write(`${row.path}: ${mib(bytes)} MiB in ${row.seconds.toFixed(1)} s, ${row.mbPerS.toFixed(0)} MB/s, ${row.match ? 'sha256 match' : `MISMATCH ${o.problems.slice(0, 3).join('; ')}`}\n`);
  };
  for (const dataPath of ['native', 'js'] as const) {
    if (mesh.dataPath !== dataPath) await mesh.restartProxies(dataPath);
    for (const proto of dataPath === 'native' ? (['tcp', 'http'] as const) : (['tcp'] as const)) {
      for (const capture of ['inbound', 'hook', 'tproxy'] as const) await one(capture, proto);
    }
  }
  return rows;
}

async function backpressure(mesh: IntegrityMesh, bytes: number, reader: SlowReader): Promise<BackpressureOutcome[]> {
  const rows: BackpressureOutcome[] = [];
  for (const dataPath of ['native', 'js'] as const) {
    await mesh.restartProxies(dataPath); // the baseline is a freshly started sidecar's
    const cases = casesFor(dataPath, BACKPRESSURE_CASES);
    const baseline = await measureBaseline(mesh);
    for (const c of cases) {
      const o = await runBackpressureCase(mesh, c, bytes, baseline, reader);
      rows.push(o);
      process.stderr.write(`${o.label}: peak ${mib(o.peak)} MiB (baseline ${mib(o.baseline)}, ceiling ${mib(o.ceiling)}), in flight ${mib(o.inFlight)} MiB${o.problems.length > 0 ? `, ${o.problems.join('; ')}` : ''}\n`);
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const options = {
    bytes: { type: 'string', default: '1GiB' },
    'backpressure-bytes': { type: 'string', default: '1GiB' },
    'slow-seconds': { type: 'string', default: '30' },
    only: { type: 'string' },
    json: { type: 'string' },
  } as const;
  let values: ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];
  try {
    ({ values } = parseArgs({ options }));
  } catch (err) {
    process.stderr.write(`soak-integrity: ${(err as Error).message} (flags: ${Object.keys(options).map((o) => `--${o}`).join(' ')})\n`);
    process.exit(2);
  }
  const bytes = parseSize('--bytes', values.bytes);
  const bpBytes = parseSize('--backpressure-bytes', values['backpressure-bytes']);
  const slowSeconds = Number(values['slow-seconds']);
  if (!Number.isInteger(slowSeconds) || slowSeconds < 1 || slowSeconds > 3600) {
    process.stderr.write(`soak-integrity: --slow-seconds expects whole seconds 1-3600, got '${values['slow-seconds']}'\n`);
    process.exit(2);
  }
  const reader: SlowReader = { rate: SLOW_RATE, ms: slowSeconds * 1000 };
  if (values.only !== undefined && values.only !== 'integrity' && values.only !== 'backpressure') {
    process.stderr.write(`soak-integrity: --only expects integrity or backpressure, got '${values.only}'\n`);
    process.exit(2);
  }
  if (!canUseNetns()) {
    process.stderr.write('soak-integrity: needs root and network namespaces (run it as root)\n');
    process.exit(1);
  }
  const lab = await Lab.create({ prefix: 'soak' });
  let ok = true;
  const report: { integrity?: IntegrityRow[]; backpressure?: object[] } = {};
  try {
    const mesh = await IntegrityMesh.create(lab, { dataPath: 'native' });
    if (values.only !== 'backpressure') {
      const rows = await integrity(mesh, bytes);
      report.integrity = rows;
      ok &&= rows.every((r) => r.match);
      process.stdout.write(
        `\nIntegrity (${mib(bytes)} MiB per path)\n${markdown(
          ['path', 'bytes', 'MB/s', 'sha256 match', 'proxy RSS peak (MiB)', 'at the peak: supervisor, workers'],
          rows.map((r) => [r.path, String(r.bytes), r.mbPerS.toFixed(0), r.match ? 'yes' : 'NO', r.rssPeakMiB.toFixed(1), r.rssAtPeakMiB.join(', ')]),
        )}\n`,
      );
    }
    if (values.only !== 'integrity') {
      const rows = await backpressure(mesh, bpBytes, reader);
      report.backpressure = rows.map(({ series, ...r }) => ({ ...r, samples: series.samples.length }));
      const good = (r: BackpressureOutcome): boolean => r.problems.length === 0 && r.peak <= r.ceiling && r.inFlight <= r.inFlightBound;
      ok &&= rows.every(good);
      process.stdout.write(
        `\nBackpressure (${mib(bpBytes)} MiB per case, reader ${mib(reader.rate)} MiB/s for ${slowSeconds} s; ceiling = idle baseline + ${mib(RSS_ALLOWANCE)} MiB)\n${markdown(
          ['path', 'bytes', 'baseline RSS', 'peak RSS', 'ceiling', 'at the peak: supervisor, workers', 'in flight (MiB)', 'intact, under ceiling'],
          rows.map((r) => [
            r.label,
            String(r.bytes),
            mib(r.baseline),
            mib(r.peak),
            mib(r.ceiling),
            (r.series.atPeak?.byPid ?? []).map(([, b]) => mib(b)).join(', '),
            mib(r.inFlight),
            good(r) ? 'yes' : 'NO',
          ]),
        )}\n`,
      );
    }
  } finally {
    await lab.destroy();
  }
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  process.exitCode = ok ? 0 : 1;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`soak-integrity: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
