/**
 * Injection over a multi-document YAML manifest: every workload (and every workload inside a List) goes through
 * the pure pod injector; documents it does not change are copied byte for byte, changed ones are re-printed from
 * the `yaml` Document API so their comments, key order and quoting survive.
 */
import { parseAllDocuments, type Document } from 'yaml';
import { ConfigError } from '../errors';
import { InjectionError } from './injection-error';
import { injectPodTemplate, type InjectionOutcome } from './pod-injector';
import type { InjectorOptions } from './settings';
import { printStyle, reconcile, sameValue } from './yaml-reconcile';
import { getIn, isList, isObject, podTemplatePath, workloadName, type KubeObject, type ObjectPath } from './workloads';

export interface WorkloadReport {
  /** kind/namespace/name */
  readonly workload: string;
  /** 1-based position of the document in the stream. */
  readonly document: number;
  readonly outcome: InjectionOutcome['kind'];
}

export interface ManifestResult {
  readonly text: string;
  readonly workloads: readonly WorkloadReport[];
}

/**
 * Injects every workload of `source`. `file` names the input in errors. Throws (ConfigError / InjectionError,
 * exit 2) on the first bad document, so a caller writes nothing unless everything succeeded.
 */
export function injectManifest(source: string, options: InjectorOptions, file = '<stdin>'): ManifestResult {
  // merge: kubectl reads `<<` merge keys (YAML 1.1), so the injector must see the merged values too.
  const docs = parseAllDocuments(source, { merge: true }) as Document.Parsed[];
  const reports: WorkloadReport[] = [];
  let text = '';
  docs.forEach((doc, i) => {
    const start = i === 0 ? 0 : doc.range[0];
    const end = i + 1 < docs.length ? docs[i + 1].range[0] : source.length;
    const original = source.slice(start, end);
    const changed = injectDocument(doc, i + 1, options, file, reports);
    text += changed ? doc.toString({ ...printStyle(doc, source), lineWidth: 0 }) : original;
  });
  return { text, workloads: reports };
}

/** Injects the workloads of one document in place; true when the document changed. */
function injectDocument(doc: Document.Parsed, index: number, options: InjectorOptions, file: string, reports: WorkloadReport[]): boolean {
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const where = err.linePos ? ` line ${err.linePos[0].line} column ${err.linePos[0].col}` : '';
    throw new ConfigError(`${file}: document ${index}${where}: invalid YAML: ${err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`, file);
  }
  const value: unknown = doc.toJS();
  if (!isObject(value)) return false;
  const root = value as KubeObject;
  const targets: { obj: unknown; path: ObjectPath }[] = isList(root)
    ? (root.items as unknown[]).map((obj, j) => ({ obj, path: ['items', j] }))
    : [{ obj: root, path: [] }];
  let changed = false;
  for (const { obj, path } of targets) {
    if (!isObject(obj)) continue;
    const workload = obj as KubeObject;
    const templatePath = podTemplatePath(workload);
    if (!templatePath) continue;
    const name = workloadName(workload);
    const injected = injectWorkload(workload, templatePath, name, options, file);
    reports.push({ workload: name, document: index, outcome: injected.outcome.kind });
    if (sameValue(injected.object, obj)) continue;
    const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
    const stored = reconcile(doc, node, injected.object);
    // A workload is a map and stays one, so reconcile edits it in place.
    if (stored !== node) throw new Error(`internal: ${name} was replaced instead of edited`);
    changed = true;
  }
  return changed;
}

function injectWorkload(
  obj: KubeObject,
  templatePath: ObjectPath,
  name: string,
  options: InjectorOptions,
  file: string,
): { object: Record<string, unknown>; outcome: InjectionOutcome } {
  const template = templatePath.length === 0 ? { metadata: obj.metadata, spec: obj.spec } : getIn(obj, templatePath);
  if (!isObject(template)) {
    throw new InjectionError(`has no pod template at ${templatePath.join('.')}`, { workload: name, file });
  }
  let result;
  try {
    result = injectPodTemplate(template, options, name);
  } catch (err) {
    throw err instanceof InjectionError ? err.inFile(file) : err;
  }
  if (templatePath.length === 0) {
    return { object: { ...obj, metadata: result.template.metadata, spec: result.template.spec }, outcome: result.outcome };
  }
  return { object: setIn(obj, templatePath, result.template), outcome: result.outcome };
}

/** A copy of `obj` with `value` at `path` (the path exists: podTemplatePath found the template there). */
function setIn(obj: Record<string, unknown>, path: ObjectPath, value: unknown): Record<string, unknown> {
  const [head, ...rest] = path;
  const key = String(head);
  return { ...obj, [key]: rest.length === 0 ? value : setIn(obj[key] as Record<string, unknown>, rest, value) };
}
