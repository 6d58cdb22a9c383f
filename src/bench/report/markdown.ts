/**
 * The Markdown report of a run: the machine and settings, the headline ratios (to `direct` and to the HAProxy
 * peer), conntrack entries, then every metric's median and spread per mode, and the failed cells. A pure function
 * of the result, so the same JSON always renders the same text (golden-tested).
 */
import { PEER_MODES, type ModeName } from '../settings';
import type { BenchResult, MetricSummary, ScenarioInfo, ScenarioSummary } from '../result';
import { betterArrow, formatRatio, formatValue } from './number-format';

type Row = readonly string[];

function table(header: Row, align: readonly ('l' | 'r')[], rows: readonly Row[]): string[] {
  const sep = align.map((a) => (a === 'r' ? '---:' : '---'));
  const line = (cells: Row): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), `|${sep.join('|')}|`, ...rows.map(line)];
}

function seconds(ms: number): string {
  return `${ms / 1000} s`;
}

function scenarioInfo(result: BenchResult, name: string): ScenarioInfo {
  const info = result.scenarios.find((s) => s.name === name);
  if (!info) throw new Error(`result has a summary for ${name} but no scenario description`);
  return info;
}

/** The modes that appear in any ratio column (every mode of the run except direct), in run order. */
function comparedModes(result: BenchResult): ModeName[] {
  return result.settings.modes.filter((m) => m !== 'direct');
}

function metricLabel(m: MetricSummary): string {
  return `${m.spec.label} ${betterArrow(m.spec)}`;
}

function medianCell(m: MetricSummary, mode: ModeName): string {
  const s = m.byMode[mode];
  if (!s) return '—';
  const unit = m.spec.unit ? ` ${m.spec.unit}` : '';
  return `${formatValue(m.spec, s.median)}${unit}`;
}

function spreadCell(m: MetricSummary, mode: ModeName, failures: number): string {
  const s = m.byMode[mode];
  if (!s) return failures > 0 ? `failed (${failures} of ${failures})` : '—';
  const failed = failures > 0 ? `, ${failures} of ${s.n + failures} failed` : '';
  const median = formatValue(m.spec, s.median);
  if (s.n === 1) return failed ? `${median} (${failed.slice(2)})` : median;
  return `${median} (${formatValue(m.spec, s.min)}–${formatValue(m.spec, s.max)}${failed})`;
}

function headlineRows(result: BenchResult, modes: readonly ModeName[], pick: (m: MetricSummary) => Partial<Record<ModeName, number>>, include: (m: MetricSummary) => boolean): Row[] {
  const rows: Row[] = [];
  for (const summary of result.summary) {
    const info = scenarioInfo(result, summary.scenario);
    for (const m of summary.metrics) {
      if (!m.spec.headline || m.spec.absolute || !include(m)) continue;
      const ratios = pick(m);
      if (Object.keys(ratios).length === 0) continue;
      rows.push([info.title, metricLabel(m), ...modes.map((mode) => (ratios[mode] !== undefined ? formatRatio(ratios[mode]!) : '—'))]);
    }
  }
  return rows;
}

/** The claim users choose sidelane for: its default capture is at least as good as REDIRECT on every headline. */
function captureClaimRows(result: BenchResult): Row[] {
  const rows: Row[] = [];
  for (const summary of result.summary) {
    const info = scenarioInfo(result, summary.scenario);
    for (const m of summary.metrics) {
      if (!m.spec.headline || m.spec.absolute) continue;
      const hook = m.byMode['tproxy+hook'];
      const redirect = m.byMode.redirect;
      if (!hook || !redirect || redirect.median === 0) continue;
      const r = hook.median / redirect.median;
      // Overlapping min–max ranges cannot order the two; say so rather than call noise a win or a loss.
      const overlap = hook.n > 1 && redirect.n > 1 && hook.min <= redirect.max && redirect.min <= hook.max;
      const better = m.spec.better === 'higher' ? r >= 1 : r <= 1;
      rows.push([info.title, metricLabel(m), formatRatio(r), overlap ? 'within the spread' : better ? 'better' : 'worse']);
    }
  }
  return rows;
}

function conntrackRows(result: BenchResult): Row[] {
  const rows: Row[] = [];
  for (const summary of result.summary) {
    for (const m of summary.metrics) {
      if (!m.spec.headline || !m.spec.absolute) continue;
      rows.push([metricLabel(m), ...result.settings.modes.map((mode) => medianCell(m, mode))]);
    }
  }
  return rows;
}

function scenarioSection(result: BenchResult, summary: ScenarioSummary): string[] {
  const info = scenarioInfo(result, summary.scenario);
  const modes = summary.modes;
  const out = [`### ${info.title} (\`${info.name}\`)`, '', `${info.method}. Peer: \`${summary.peer}\`.`, ''];
  const rows = summary.metrics.map((m) => [metricLabel(m), m.spec.unit, ...modes.map((mode) => spreadCell(m, mode, summary.failures[mode] ?? 0))]);
  out.push(...table(['metric', 'unit', ...modes.map((m) => `\`${m}\``)], ['l', 'l', ...modes.map(() => 'r' as const)], rows), '');
  return out;
}

export function renderMarkdown(result: BenchResult): string {
  const s = result.settings;
  const mc = result.machine;
  const tools = Object.entries(mc.tools)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const load = `load average ${mc.loadAverageStart.join(' / ')} at start${mc.loadAverageEnd ? `, ${mc.loadAverageEnd.join(' / ')} at end` : ''}`;
  const out: string[] = [
    `## sidelane bench — ${result.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `- **Machine:** ${mc.cpuModel}, ${mc.cores} cores, ${mc.memoryGiB} GiB RAM, Linux ${mc.kernel} (${mc.os}), Node ${mc.node}; ${load}.`,
    `- **Tools:** ${tools}.`,
    `- **Run:** ${s.repeat} repetition${s.repeat === 1 ? '' : 's'} with the modes alternating (each repetition rotates their order); ` +
      `${seconds(s.durationMs)} per timed cell after a ${seconds(s.warmupMs)} warm-up per mode; ${s.connections} load-generator connections; ` +
      `fixed rate ${s.rate} req/s; ${s.idleConnections} idle connections; ${s.burstConnections}-connection conntrack burst; ` +
      `sidelane --concurrency ${s.concurrency}, HAProxy nbthread ${s.concurrency}${s.quick ? '; --quick' : ''}.`,
    `- Values are medians over the repetitions${s.repeat > 1 ? ', with min–max in parentheses' : ''}. ↑ higher is better, ↓ lower is better.`,
    '',
  ];

  const compared = comparedModes(result);
  const toDirect = headlineRows(result, compared, (m) => m.toDirect, (m) => !m.spec.proxyOnly);
  if (toDirect.length > 0) {
    out.push('### Ratio to `direct` (no proxy)', '');
    out.push(...table(['scenario', 'metric', ...compared.map((m) => `\`${m}\``)], ['l', 'l', ...compared.map(() => 'r' as const)], toDirect), '');
  }
  const sidelaneModes = compared.filter((m) => !PEER_MODES.includes(m));
  const toPeer = headlineRows(result, sidelaneModes, (m) => m.toPeer, () => true);
  if (toPeer.length > 0) {
    out.push('### Ratio to the HAProxy peer (`haproxy`; `haproxy-http` for L7)', '');
    out.push(...table(['scenario', 'metric', ...sidelaneModes.map((m) => `\`${m}\``)], ['l', 'l', ...sidelaneModes.map(() => 'r' as const)], toPeer), '');
  }
  const claim = captureClaimRows(result);
  if (claim.length > 0) {
    out.push('### `tproxy+hook` against `redirect` (same proxy, conntrack-free capture vs nat REDIRECT)', '');
    out.push(...table(['scenario', 'metric', '`tproxy+hook` / `redirect`', 'verdict'], ['l', 'l', 'r', 'l'], claim), '');
  }
  const conntrack = conntrackRows(result);
  if (conntrack.length > 0) {
    out.push('### Conntrack', '');
    out.push(...table(['metric', ...s.modes.map((m) => `\`${m}\``)], ['l', ...s.modes.map(() => 'r' as const)], conntrack), '');
  }

  out.push('### Results per scenario', '');
  for (const summary of result.summary) out.push(...scenarioSection(result, summary));

  out.push('### Modes', '');
  for (const m of result.modes) out.push(`- \`${m.name}\`: ${m.description}.`);
  out.push('');

  const failed = result.cells.filter((c) => c.error !== undefined);
  if (failed.length > 0) {
    out.push('### Failed cells', '');
    for (const c of failed) out.push(`- repetition ${c.repetition + 1}, \`${c.scenario}\`, \`${c.mode}\`: ${c.error}`);
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
