/**
 * docs/cli.md is kept true by this test: every command of the CLI (walked from commander's program) has a row in
 * its command table; every long flag of a command appears in the sections that row links to; and every flag those
 * sections mention exists on a command documented there. So a flag added, renamed or removed fails here until the
 * documentation follows.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../../src/cli/main';
import { repoRoot } from '../../support/golden-file';
import { codeFragments, section, tableRows } from '../../support/markdown';

const DOCS = path.join(repoRoot(), 'docs');
const read = (file: string): string => readFileSync(path.join(DOCS, file), 'utf8');

interface Leaf {
  /** `proxy-config routes` */
  readonly path: string;
  readonly command: Command;
}

function leaves(cmd: Command, prefix = ''): Leaf[] {
  return cmd.commands.flatMap((c) => {
    const p = `${prefix}${c.name()}`;
    return c.commands.length ? leaves(c, `${p} `) : [{ path: p, command: c }];
  });
}

const longFlags = (c: Command): string[] => c.options.map((o) => o.long).filter((l): l is string => l !== undefined);

/** Rows of the "Commands" table: command path → the doc sections (file + anchor) its row links to. */
function commandTable(): Map<string, { file: string; anchor: string }[]> {
  const cli = read('cli.md');
  const table = section(cli, 'commands');
  assert.ok(table, 'docs/cli.md has a "## Commands" section');
  const out = new Map<string, { file: string; anchor: string }[]>();
  for (const cells of tableRows(table)) {
    const name = /^`sidelane ([^`]+)`$/.exec(cells[0] ?? '')?.[1];
    if (!name) continue;
    const targets = [...(cells[2] ?? '').matchAll(/\]\(([^)]+)\)/g)].map((m) => {
      const [file, anchor] = m[1]!.split('#');
      return { file: file || 'cli.md', anchor: anchor ?? '' };
    });
    assert.ok(targets.length > 0, `the row of sidelane ${name} links to where it is documented`);
    out.set(name, targets);
  }
  return out;
}

/** The text of a linked section (a whole file when the link has no anchor). */
function sectionText(target: { file: string; anchor: string }): string {
  const text = read(target.file);
  if (target.anchor === '') return text;
  const s = section(text, target.anchor);
  assert.ok(s !== undefined, `docs/${target.file}#${target.anchor} exists`);
  return s;
}

/** `--flags` named in code spans and code blocks of a section (in prose they would be ambiguous). */
function mentionedFlags(md: string): Set<string> {
  const out = new Set<string>();
  for (const frag of codeFragments(md)) for (const m of frag.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)) out.add(m[0]);
  return out;
}

test('every command of the CLI has a row in docs/cli.md, and every row is a command', () => {
  const program = buildProgram();
  const rows = commandTable();
  const commands = leaves(program).map((l) => l.path);
  assert.deepEqual(commands.filter((c) => !rows.has(c)), [], 'commands without a row in docs/cli.md');
  assert.deepEqual([...rows.keys()].filter((r) => !commands.includes(r)), [], 'rows in docs/cli.md for commands that do not exist');
});

test('every long flag of every command appears in the sections its row links to', () => {
  const program = buildProgram();
  const rows = commandTable();
  const missing: string[] = [];
  for (const leaf of leaves(program)) {
    const docs = (rows.get(leaf.path) ?? []).map(sectionText).join('\n');
    // A parent's own flags (none today) count for its subcommands too.
    const parent = leaf.command.parent && leaf.command.parent !== program ? longFlags(leaf.command.parent) : [];
    for (const flag of [...longFlags(leaf.command), ...parent]) {
      if (!new RegExp(`\`[^\`]*${flag.replace(/-/g, '\\-')}(?![\\w-])`).test(docs)) missing.push(`sidelane ${leaf.path} ${flag}`);
    }
  }
  assert.deepEqual(missing, [], 'flags not documented where docs/cli.md says');
  for (const flag of longFlags(program)) assert.ok(read('cli.md').includes(`\`${flag}\``), `global ${flag} in docs/cli.md`);
});

test('every flag a command section mentions exists on a command documented there', () => {
  const program = buildProgram();
  const rows = commandTable();
  const global = new Set([...longFlags(program), '--help']);
  // Each section is "owned" by the commands whose row links to it first (their own section).
  const owners = new Map<string, Leaf[]>();
  for (const leaf of leaves(program)) {
    const own = rows.get(leaf.path)?.[0];
    if (!own) continue;
    const key = `${own.file}#${own.anchor}`;
    owners.set(key, [...(owners.get(key) ?? []), leaf]);
  }
  const text = (key: string): string => {
    const [file, anchor] = key.split('#') as [string, string];
    return sectionText({ file, anchor });
  };
  const unknown: string[] = [];
  for (const key of owners.keys()) {
    // A section also documents the commands whose own section is nested in it (hook.md's "Using it" holds exec's).
    const cmds = [...owners].filter(([k]) => text(key).includes(text(k))).flatMap(([, c]) => c);
    const known = new Set([...global, ...cmds.flatMap((c) => longFlags(c.command))]);
    for (const flag of mentionedFlags(text(key))) if (!known.has(flag)) unknown.push(`${key}: ${flag}`);
  }
  assert.deepEqual(unknown, [], 'documented flags that no command documented there has');
});

test('the defaults documented for run and demo are the ones commander applies', () => {
  const program = buildProgram();
  const cli = read('cli.md');
  for (const name of ['run', 'demo']) {
    const cmd = program.commands.find((c) => c.name() === name)!;
    const rows = tableRows(section(cli, `sidelane-${name}`)!);
    for (const o of cmd.options) {
      if (o.defaultValue === undefined || typeof o.defaultValue === 'boolean') continue;
      const row = rows.find((r) => r[0]?.startsWith(`\`${o.long}`));
      assert.ok(row, `sidelane ${name} ${o.long} has a row`);
      assert.ok(row[1]!.replace(/`/g, '').includes(String(o.defaultValue)), `sidelane ${name} ${o.long}: documented default "${row[1]}", commander's ${o.defaultValue}`);
    }
  }
});
