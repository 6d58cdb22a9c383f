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
      return { path: '(syntax)', message: syntaxMessage(x.message), line: p.line, column: p.col };
    });
    throw new ConfigError(
      `config ${file}:${pos.line}:${pos.col}: not valid YAML/JSON: ${syntaxMessage(e.message)}${more(issues.length)}`,
      file,
      issues,
    );
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    // A file with no document (empty, only comments, or `null`) is refused rather than read as "no configuration": a
    // reload that catches a file half-written (truncated, then filled) must never swap the running routing for none.
    throw new ConfigError(
      `config ${file}: (top level): the file has no configuration (empty, only comments, or null); expected a map like {services: [...]}, or {} for none`,
      file,
      [{ path: '(top level)', message: 'expected a map of settings, got an empty document' }],
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // yaml refuses alias expansion beyond the count (a "billion laughs" document) by throwing.
    throw new ConfigError(
      `config ${file}: not valid YAML/JSON: ${err instanceof ReferenceError ? `aliases expand too far (expected at most ${MAX_ALIAS_COUNT} alias references)` : firstLine(String(err))}`,
      file,
    );
  }
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

/** yaml's messages, with the ones that say nothing to a user rewritten. */
function syntaxMessage(message: string): string {
  const m = firstLine(message);
  // The parser recurses per nesting level and reports its own stack overflow as the error.
  if (/maximum call stack/i.test(m)) return 'nested too deeply (lists or maps inside each other thousands of levels down)';
  return m.replace(/; please use YAML\.parseAllDocuments\(\)$/, ' (expected one; remove the --- separators)');
}

/** How a type zod expected is said in a message. */
const TYPE_NOUNS: Readonly<Record<string, string>> = {
  object: 'a map',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
};

/** zod's own wording ("Invalid input: expected array, received number"), as opposed to the schema's messages. */
function isZodDefault(message: string): boolean {
  return /^Invalid (input|key|element)/.test(message);
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
    case 'invalid_type': {
      const noun = path.length === 0 && issue.expected === 'object' ? `a map of settings (${Object.keys(ConfigSchema.shape).join(', ')})` : TYPE_NOUNS[issue.expected];
      const expected = isZodDefault(issue.message) ? `expected ${noun ?? issue.expected}` : lowerFirst(issue.message);
      if (issue.input === undefined) return [{ path, message: `missing (${expected})` }];
      return [{ path, message: `${expected}, got ${describeValue(issue.input)}` }];
    }
    case 'invalid_key': {
      // A bad key of a map (a label key, a header name): the key schema's message says what a key looks like.
      const inner = issue.issues.find((i) => !isZodDefault(i.message)) ?? issue.issues[0];
      const message = inner !== undefined && !isZodDefault(inner.message) ? inner.message : 'expected a different key';
      return [{ path, message: withInput(message, issue.input) }];
    }
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

/** yaml's bound on alias expansion: enough for any hand-written file, far from a "billion laughs". */
const MAX_ALIAS_COUNT = 100;

/** The configuration without a file: no services, ALLOW_ANY, every inbound port TCP passthrough. */
export const EMPTY_CONFIG: SidelaneConfig = Object.freeze({});
