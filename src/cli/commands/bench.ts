/**
 * `sidelane bench`: the capture benchmark (DESIGN 7, docs/benchmarks.md). Runs every scenario through every mode
 * in client/server pods, prints the Markdown report on stdout (progress on stderr) and writes `--json`, `--svg`,
 * `--markdown` files. `--from-json FILE` re-renders the reports of an earlier run without running anything.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { SidelaneError, UsageError } from '../../errors';
import { ProcessRunner } from '../../netns/command';
import { renderMarkdown } from '../../bench/report/markdown';
import { renderSvg } from '../../bench/report/svg';
import { RESULT_SCHEMA, type BenchResult } from '../../bench/result';
import { runBench } from '../../bench/run';
import { MODE_NAMES, SCENARIO_NAMES, settingsFromFlags, type BenchFlags, type BenchOutputs } from '../../bench/settings';
import { localCli } from '../../bench/sidelane-cli';

interface BenchCommandFlags extends BenchFlags {
  readonly fromJson?: string;
}

function writeOutput(file: string, text: string): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, text);
}

export function writeReports(result: BenchResult, outputs: BenchOutputs): string {
  const markdown = renderMarkdown(result);
  if (outputs.json) writeOutput(outputs.json, `${JSON.stringify(result, null, 2)}\n`);
  if (outputs.svg) writeOutput(outputs.svg, renderSvg(result));
  if (outputs.markdown) writeOutput(outputs.markdown, markdown);
  return markdown;
}

export function readResult(file: string): BenchResult {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--from-json: cannot read ${file} as JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof doc !== 'object' || doc === null || (doc as { schema?: unknown }).schema !== RESULT_SCHEMA) {
    throw new UsageError(`--from-json: ${file} is not a sidelane bench result (expected "schema": "${RESULT_SCHEMA}")`);
  }
  return doc as BenchResult;
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('benchmark capture modes and proxies in client/server pods: direct, redirect, tproxy+hook, tproxy, HAProxy')
    .option('--modes <list>', `modes to compare, comma-separated (${MODE_NAMES.join(', ')}); default all`)
    .option('--scenarios <list>', `scenarios to run, comma-separated (${SCENARIO_NAMES.join(', ')}); default all`)
    .option('--repeat <n>', 'repetitions; modes alternate within each (default 3, --quick 1)')
    .option('--duration <duration>', 'measured time of each timed cell (default 5s, --quick 2s)')
    .option('--warmup <duration>', 'load sent through each mode after set-up, and before each request-driven cell until its rate is steady (at least this, at most 4x), not measured (default 2s, --quick 500ms)')
    .option('--connections <n>', 'concurrent connections of the load generators (default 32, --quick 16)')
    .option('--concurrency <n>', 'sidelane worker processes (`run --concurrency`) and HAProxy threads (default 2)')
    .option('--rate <n>', 'total request rate of the fixed-rate scenario, req/s (default 2000, --quick 1000)')
    .option('--idle-connections <n>', 'idle connections held through the sidecars (default 5000, --quick 500; at most 9000)')
    .option('--burst-connections <n>', 'new connections of the conntrack burst (default 1000)')
    .option('--json <file>', 'write the full result (every cell, summaries, machine) as JSON')
    .option('--svg <file>', 'write the chart (ratios to direct) as SVG')
    .option('--markdown <file>', 'write the Markdown report to a file (it is always printed on stdout)')
    .option('--quick', 'a few seconds per cell, one repetition (smoke test, first look)')
    .option('--keep', 'keep the pods, processes and capture after the run until Ctrl-C (debugging)')
    .option('--from-json <file>', 'do not run: render the reports of an earlier --json result')
    .action(async (flags: BenchCommandFlags) => {
      if (flags.fromJson !== undefined) {
        const outputs = { json: undefined, svg: flags.svg, markdown: flags.markdown };
        process.stdout.write(writeReports(readResult(flags.fromJson), outputs));
        return;
      }
      const settings = settingsFromFlags(flags);
      const result = await runBench(settings, {
        cli: localCli(),
        runner: new ProcessRunner(),
        log: (line) => process.stderr.write(`sidelane bench: ${line}\n`),
        now: () => new Date(),
      });
      process.stdout.write(writeReports(result, settings.outputs));
      const failed = result.cells.filter((c) => c.error !== undefined).length;
      if (failed > 0) throw new SidelaneError('SIDELANE_ERR_BENCH', `${failed} of ${result.cells.length} cells failed (see "Failed cells" in the report)`);
    });
}
