/**
 * The SVG chart of a run, written by hand (no chart library): grouped bars per scenario metric, each mode's median
 * divided by `direct`'s, with min–max whiskers and a dashed line at 1 (= direct). One panel for throughput-like
 * metrics (higher is better) and one for p99 latency (lower is better). A pure function of the result.
 */
import type { ModeName } from '../settings';
import type { BenchResult, MetricSummary } from '../result';

const WIDTH = 960;
const LEFT = 64;
const RIGHT = 24;
const PLOT_HEIGHT = 220;
const PANEL_GAP = 96;
const TOP = 84;

/** Fixed colours so a mode looks the same in every chart: sidelane greens, the baseline red, the peer blues. */
export const MODE_COLOURS: Readonly<Record<ModeName, string>> = {
  direct: '#7f7f7f',
  redirect: '#d62728',
  'tproxy+hook': '#2ca02c',
  tproxy: '#98df8a',
  haproxy: '#1f77b4',
  'haproxy-http': '#9ecae1',
};

interface Bar {
  readonly mode: ModeName;
  readonly value: number;
  readonly low: number;
  readonly high: number;
}

interface Group {
  readonly scenario: string;
  readonly metric: string;
  readonly bars: readonly Bar[];
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function n(x: number): string {
  return Number(x.toFixed(1)).toString();
}

function groupsOf(result: BenchResult, kind: 'throughput' | 'latency'): Group[] {
  const groups: Group[] = [];
  for (const summary of result.summary) {
    for (const m of summary.metrics) {
      if (m.spec.chart !== kind) continue;
      const direct = m.byMode.direct?.median;
      if (direct === undefined || direct === 0) continue;
      const bars = barsOf(m, summary.modes, direct);
      if (bars.length > 0) groups.push({ scenario: summary.scenario, metric: m.spec.label, bars });
    }
  }
  return groups;
}

function barsOf(m: MetricSummary, modes: readonly ModeName[], direct: number): Bar[] {
  const bars: Bar[] = [];
  for (const mode of modes) {
    const s = m.byMode[mode];
    if (mode === 'direct' || !s) continue;
    bars.push({ mode, value: s.median / direct, low: s.min / direct, high: s.max / direct });
  }
  return bars;
}

/** The smallest "nice" axis maximum (0.5, 1, 1.5, 2, 3, 4, 5, 10, …) at or above x. */
export function niceMax(x: number): number {
  const candidates = [0.5, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];
  for (const c of candidates) if (x <= c) return c;
  const p = 10 ** Math.floor(Math.log10(x));
  return Math.ceil(x / p) * p;
}

function panel(title: string, groups: readonly Group[], top: number): string[] {
  const out: string[] = [];
  const plotWidth = WIDTH - LEFT - RIGHT;
  const max = niceMax(Math.max(1, ...groups.flatMap((g) => g.bars.map((b) => Math.max(b.value, b.high)))) * 1.08);
  const y = (v: number): number => top + PLOT_HEIGHT - (v / max) * PLOT_HEIGHT;
  out.push(`<text x="${LEFT}" y="${top - 14}" class="panel">${escapeXml(title)}</text>`);
  const steps = max <= 1.5 ? 0.25 : max <= 3 ? 0.5 : max <= 6 ? 1 : max / 5;
  for (let v = 0; v <= max + 1e-9; v += steps) {
    out.push(`<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${n(y(v))}" y2="${n(y(v))}" class="grid"/>`);
    out.push(`<text x="${LEFT - 6}" y="${n(y(v) + 4)}" class="axis" text-anchor="end">${Number(v.toFixed(2))}×</text>`);
  }
  const groupWidth = plotWidth / Math.max(1, groups.length);
  groups.forEach((g, gi) => {
    const barWidth = Math.min(34, (groupWidth - 20) / Math.max(1, g.bars.length));
    const start = LEFT + gi * groupWidth + (groupWidth - barWidth * g.bars.length) / 2;
    g.bars.forEach((b, bi) => {
      const x = start + bi * barWidth;
      const h = top + PLOT_HEIGHT - y(b.value);
      out.push(
        `<rect x="${n(x + 1)}" y="${n(y(b.value))}" width="${n(barWidth - 2)}" height="${n(h)}" fill="${MODE_COLOURS[b.mode]}"><title>${escapeXml(`${b.mode}: ${b.value.toFixed(2)}× direct`)}</title></rect>`,
      );
      if (b.high - b.low > 1e-9) {
        const cx = x + barWidth / 2;
        out.push(`<line x1="${n(cx)}" x2="${n(cx)}" y1="${n(y(b.high))}" y2="${n(y(b.low))}" class="whisker"/>`);
      }
      out.push(`<text x="${n(x + barWidth / 2)}" y="${n(Math.min(y(b.value), y(b.high)) - 4)}" class="value" text-anchor="middle">${b.value.toFixed(2)}</text>`);
    });
    const cx = LEFT + gi * groupWidth + groupWidth / 2;
    out.push(`<text x="${n(cx)}" y="${top + PLOT_HEIGHT + 18}" class="label" text-anchor="middle">${escapeXml(g.scenario)}</text>`);
    out.push(`<text x="${n(cx)}" y="${top + PLOT_HEIGHT + 33}" class="sublabel" text-anchor="middle">${escapeXml(g.metric)}</text>`);
  });
  out.push(`<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${n(y(1))}" y2="${n(y(1))}" class="direct"/>`);
  out.push(`<text x="${WIDTH - RIGHT}" y="${n(y(1) - 4)}" class="axis" text-anchor="end">direct = 1</text>`);
  return out;
}

export function renderSvg(result: BenchResult): string {
  const panels = [
    { title: 'Throughput relative to direct (higher is better)', groups: groupsOf(result, 'throughput') },
    { title: 'p99 latency relative to direct (lower is better)', groups: groupsOf(result, 'latency') },
  ].filter((p) => p.groups.length > 0);
  const height = TOP + panels.length * (PLOT_HEIGHT + PANEL_GAP) + 8;
  const modes = result.settings.modes.filter((m) => m !== 'direct');
  const mc = result.machine;
  const subtitle = `${result.startedAt.slice(0, 10)} · ${mc.cpuModel}, ${mc.cores} cores, Linux ${mc.kernel} · medians of ${result.settings.repeat}, whiskers min–max`;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    '<style>',
    '.title{font-size:17px;font-weight:bold}.subtitle{font-size:12px;fill:#555}.panel{font-size:14px;font-weight:bold}',
    '.axis{font-size:11px;fill:#555}.label{font-size:12px}.sublabel{font-size:11px;fill:#555}.value{font-size:10px;fill:#333}',
    '.grid{stroke:#e5e5e5;stroke-width:1}.direct{stroke:#333;stroke-width:1.5;stroke-dasharray:6 4}.whisker{stroke:#222;stroke-width:1.2}',
    '.legend{font-size:12px}',
    '</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="24" class="title">sidelane bench: each mode relative to direct (no proxy)</text>`,
    `<text x="${LEFT}" y="42" class="subtitle">${escapeXml(subtitle)}</text>`,
  ];
  let lx = LEFT;
  for (const mode of modes) {
    out.push(`<rect x="${lx}" y="54" width="12" height="12" fill="${MODE_COLOURS[mode]}"/>`);
    out.push(`<text x="${lx + 16}" y="64" class="legend">${escapeXml(mode)}</text>`);
    lx += 16 + mode.length * 7 + 22;
  }
  panels.forEach((p, i) => out.push(...panel(p.title, p.groups, TOP + 30 + i * (PLOT_HEIGHT + PANEL_GAP))));
  if (panels.length === 0) out.push(`<text x="${LEFT}" y="${TOP + 40}" class="label">No scenario with a direct baseline was run.</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
