/**
 * Just enough Markdown for the documentation tests: GitHub's heading anchors, the section under a heading, links,
 * inline code spans, fenced code blocks and table rows.
 */

export interface Heading {
  readonly level: number;
  readonly text: string;
  readonly slug: string;
  /** 0-based line index. */
  readonly line: number;
}

/** GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped, spaces to `-`. */
export function slug(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Headings outside fenced code blocks, with GitHub's de-duplicated slugs (`x`, `x-1`, …). */
export function headings(md: string): Heading[] {
  const out: Heading[] = [];
  const seen = new Map<string, number>();
  let fenced = false;
  md.split('\n').forEach((line, i) => {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) return;
    const base = slug(m[2]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ level: m[1]!.length, text: m[2]!, slug: n === 0 ? base : `${base}-${n}`, line: i });
  });
  return out;
}

/** The text from the heading with this slug to the next heading of the same or a higher level. */
export function section(md: string, anchor: string): string | undefined {
  const hs = headings(md);
  const i = hs.findIndex((h) => h.slug === anchor);
  if (i < 0) return undefined;
  const h = hs[i]!;
  const end = hs.slice(i + 1).find((x) => x.level <= h.level);
  return md.split('\n').slice(h.line, end?.line).join('\n');
}

/** Markdown links `[text](target)` outside code (targets as written). */
export function links(md: string): { text: string; target: string }[] {
  const prose = md.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\[([^\]]*)\]\(([^)\s]+)\)/g)].map((m) => ({ text: m[1]!, target: m[2]! }));
}

/** Inline code spans, and the lines of fenced blocks. */
export function codeFragments(md: string): string[] {
  const blocks = [...md.matchAll(/```[^\n]*\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n'));
  const inline = [...md.replace(/```[\s\S]*?```/g, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
  return [...inline, ...blocks];
}

/** Cells of the table rows (lines starting with `|`), header and separator rows included. */
export function tableRows(md: string): string[][] {
  return md
    .split('\n')
    .filter((l) => l.trimStart().startsWith('|'))
    .map((l) =>
      l
        .trim()
        .replace(/^\||\|$/g, '')
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}
