/**
 * The demo's printed walkthrough: numbered steps with headings, short explanations, the exact commands a reader
 * can re-run, and their outputs indented beneath. Formatting only — the writer is injected (stdout, or stderr
 * when the JSON summary takes stdout), and emphasis is used only on a terminal.
 */

export interface ReportOptions {
  /** Bold headings (ANSI); off for files, pipes and NO_COLOR. */
  readonly emphasis?: boolean;
  readonly width?: number;
}

export class Report {
  private readonly emphasis: boolean;
  private readonly width: number;

  constructor(
    private readonly write: (text: string) => void,
    options: ReportOptions = {},
  ) {
    this.emphasis = options.emphasis ?? false;
    this.width = options.width ?? 100;
  }

  private bold(s: string): string {
    return this.emphasis ? `\x1b[1m${s}\x1b[0m` : s;
  }

  title(text: string): void {
    this.write(`${this.bold(text)}\n${'='.repeat(Math.min(text.length, this.width))}\n\n`);
  }

  step(n: number, total: number, text: string): void {
    const head = `[${n}/${total}] ${text}`;
    this.write(`\n${this.bold(head)}\n${'-'.repeat(Math.min(head.length, this.width))}\n`);
  }

  /** A paragraph, wrapped at the report width. */
  para(text: string): void {
    this.write(`${wrap(text, this.width)}\n`);
  }

  /** The command as the reader would type it, then (optionally) its output indented. */
  command(line: string, output?: string): void {
    this.write(`\n  $ ${line}\n`);
    if (output !== undefined) this.block(output);
  }

  block(text: string): void {
    const lines = text.replace(/\n+$/, '').split('\n');
    this.write(`${lines.map((l) => (l ? `    ${l}` : '')).join('\n')}\n`);
  }

  table(headers: readonly string[], rows: readonly (readonly string[])[]): void {
    this.block(formatTable(headers, rows));
  }

  line(text = ''): void {
    this.write(`${text}\n`);
  }
}

/** Left-aligned columns separated by three spaces (the proxy-config tables' style). */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join('\n');
}

export function wrap(text: string, width: number): string {
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    // Continuation lines of a "- item" hang under the item's text.
    const lead = /^\s*/.exec(paragraph)![0];
    const hang = ' '.repeat(/^\s*(?:- )?/.exec(paragraph)![0].length);
    let line = '';
    for (const word of paragraph.trim().split(/\s+/).filter(Boolean)) {
      if (line === '') line = lead + word;
      else if (line.length + 1 + word.length > width) {
        out.push(line);
        line = hang + word;
      } else line += ` ${word}`;
    }
    out.push(line);
  }
  return out.join('\n');
}

/**
 * Keeps some columns of a text table whose header cells start at the columns' offsets (the proxy-config tables),
 * and some rows: `keepRow` sees each data line. Used to show the rows a step talks about without the widest
 * columns; the reader gets the command for the full table.
 */
export function selectColumns(table: string, columns: readonly string[], keepRow: (line: string) => boolean = () => true): string {
  const lines = table.replace(/\n+$/, '').split('\n');
  const header = lines[0] ?? '';
  const starts: { name: string; start: number }[] = [];
  const re = /\S+(?: \S+)*/g;
  for (let m = re.exec(header); m; m = re.exec(header)) starts.push({ name: m[0], start: m.index });
  const spans = starts.map((s, i) => ({ name: s.name, start: s.start, end: starts[i + 1]?.start ?? Infinity }));
  const chosen = spans.filter((s) => columns.includes(s.name));
  const cut = (line: string): string[] => chosen.map((s) => line.slice(s.start, s.end === Infinity ? undefined : s.end).trim());
  const rows = lines.slice(1).filter((l) => l.trim() && keepRow(l)).map(cut);
  return formatTable(chosen.map((c) => c.name), rows);
}
