/**
 * Loads a configuration file (YAML or JSON) into a validated SidelaneConfig, or throws one ConfigError naming the
 * file, the line, the path inside the document (`services[2].ports[0].port`) and what was expected.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors';
import { checkReferences, formatPath, type PathSegment } from './references';
import { ConfigSchema, type SidelaneConfig } from './schema';

/** Reads and validates a file; every failure (unreadable, unparsable, invalid) is a ConfigError. */
export function loadConfigFile(file: string): SidelaneConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`config ${file}: cannot read the file (${code}); expected a readable YAML or JSON file`, file);
  }
  return parseConfig(text, file);
}

/** Validates configuration text (YAML, of which JSON is a subset). */
export function parseConfig(text: string, file: string): SidelaneConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    const issues: ConfigIssue[] = doc.errors.map((x) => {
      const p = lines.linePos(x.pos[0]);
      return { path: '(syntax)', message: firstLine(x.message), line: p.line, column: p.col };
    });
    throw new ConfigError(
      `config ${file}:${pos.line}:${pos.col}: not valid YAML/JSON: ${firstLine(e.message)}${more(issues.length)}`,
      file,
      issues,
    );
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const result = ConfigSchema.safeParse(data, { reportInput: true });
  if (!result.success) {
    const issues = result.error.issues.flatMap((i) => describeIssue(i, [])).map((i) => locate(i, doc, lines));
    throw configError(file, issues);
  }
  const refIssues = checkReferences(result.data).map((i) => locate({ path: i.path, message: i.message }, doc, lines));
  if (refIssues.length > 0) throw configError(file, refIssues);
  return result.data;
}

function configError(file: string, issues: readonly ConfigIssue[]): ConfigError {
  const first = issues[0]!;
  const where = first.line !== undefined ? `${file}:${first.line}:${first.column ?? 1}` : file;
  return new ConfigError(`config ${where}: ${first.path}: ${first.message}${more(issues.length)}`, file, issues);
}

function more(n: number): string {
  return n > 1 ? ` (and ${n - 1} more problem${n > 2 ? 's' : ''}; --verbose lists them)` : '';
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

interface RawIssue {
  readonly path: readonly PathSegment[];
  readonly message: string;
}

/** Turns one zod issue into messages that say what was expected and what was found. */
function describeIssue(issue: z.core.$ZodIssue, base: readonly PathSegment[]): RawIssue[] {
  const path = [...base, ...(issue.path as PathSegment[])];
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => ({ path: [...path, k], message: 'unknown field (check the spelling; docs/config.md lists every field)' }));
    case 'invalid_union': {
      // A branch that failed below its own top level recognised the shape: its deeper problem is the useful one.
      const deep = issue.errors.map((branch) => branch.filter((e) => e.path.length > 0 || e.code === 'unrecognized_keys')).filter((b) => b.length > 0);
      if (deep.length > 0) return deep[0]!.flatMap((e) => describeIssue(e, path));
      return [{ path, message: withInput(issue.message, issue.input) }];
    }
    case 'invalid_type':
      if (issue.input === undefined) return [{ path, message: `missing (${lowerFirst(issue.message)})` }];
      return [{ path, message: `${lowerFirst(issue.message)}, got ${describeValue(issue.input)}` }];
    default:
      return [{ path, message: withInput(issue.message, issue.input) }];
  }
}

/** zod's messages start upper case ("Invalid input"); ours continue a sentence. Acronyms (UDP, HTTP) stay. */
function lowerFirst(s: string): string {
  return /^[A-Z][a-z]/.test(s) ? s.charAt(0).toLowerCase() + s.slice(1) : s;
}

function withInput(message: string, input: unknown): string {
  const m = lowerFirst(message);
  // Only scalars are worth echoing; "got a map" after a rule about the map's contents says nothing.
  if (input === undefined || /, got /.test(m) || (typeof input === 'object' && input !== null)) return m;
  return `${m}, got ${describeValue(input)}`;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  return String(v);
}

/** Adds the line and column of the node at the issue's path (or of its nearest existing parent). */
function locate(issue: RawIssue, doc: Document, lines: LineCounter): ConfigIssue {
  const formatted = formatPath(issue.path);
  for (let n = issue.path.length; n >= 0; n--) {
    const prefix = issue.path.slice(0, n);
    let offset: number | undefined;
    if (n === issue.path.length && n > 0) {
      // Point at the key for fields (unknown or invalid), at the value otherwise.
      const parent = prefix.length > 1 ? doc.getIn(prefix.slice(0, -1), true) : doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === prefix[prefix.length - 1]);
        const node = (pair?.value ?? pair?.key) as { range?: [number, number, number] } | undefined;
        offset = node?.range?.[0];
      }
    }
    if (offset === undefined) {
      const node = (prefix.length === 0 ? doc.contents : doc.getIn(prefix, true)) as { range?: [number, number, number] } | null;
      offset = node?.range?.[0];
    }
    if (offset !== undefined) {
      const pos = lines.linePos(offset);
      return { path: formatted, message: issue.message, line: pos.line, column: pos.col };
    }
  }
  return { path: formatted, message: issue.message };
}

/** The configuration without a file: no services, ALLOW_ANY, every inbound port TCP passthrough. */
export const EMPTY_CONFIG: SidelaneConfig = Object.freeze({});
