/**
 * Writes a new plain value into a parsed YAML document while keeping every node whose value did not change —
 * with its comments, quoting, key order and anchors — so an injected manifest differs from its source only
 * where injection changed something. List items are matched by `name` (containers, env, volumes), then by value.
 */
import { isAlias, isMap, isNode, isPair, isScalar, isSeq, Scalar, visit, type Document, type Node, type Pair } from 'yaml';
import { isObject } from './workloads';

/** Deep equality of JSON-like values (what `toJS` yields and the generator returns). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameValue(a[k], b[k]));
  }
  return false;
}

function valueOf(doc: Document, node: unknown): unknown {
  if (isAlias(node)) return valueOf(doc, node.resolve(doc));
  if (isNode(node)) return node.toJS(doc);
  return node;
}

function keyOf(pair: Pair): unknown {
  return isScalar(pair.key) ? pair.key.value : pair.key;
}

/** Returns the node to store in place of `node` so that it holds `value`; reuses `node` wherever it can. */
export function reconcile(doc: Document, node: unknown, value: unknown): unknown {
  if (node !== null && node !== undefined && sameValue(valueOf(doc, node), value)) return node;
  if (isMap(node) && isObject(value)) {
    reconcileMap(doc, node.items as Pair[], value);
    return node;
  }
  if (isSeq(node) && Array.isArray(value)) {
    node.items = reconcileSeq(doc, node.items, value);
    return node;
  }
  const fresh = doc.createNode(value) as Node;
  if (isNode(node)) {
    // Keep what a reader attached to the old node, and the old quoting style for a string that changed.
    fresh.commentBefore = node.commentBefore;
    fresh.comment = node.comment;
    fresh.spaceBefore = node.spaceBefore;
    if (isScalar(node) && fresh instanceof Scalar && typeof value === 'string' && typeof node.value === 'string') fresh.type = node.type;
  }
  return fresh;
}

function reconcileMap(doc: Document, items: Pair[], value: Record<string, unknown>): void {
  const wanted = Object.entries(value).filter(([, v]) => v !== undefined);
  const keys = new Set(wanted.map(([k]) => k));
  for (let i = items.length - 1; i >= 0; i--) {
    const k = keyOf(items[i]);
    if (typeof k !== 'string' || !keys.has(k)) items.splice(i, 1);
  }
  let previous = -1;
  for (const [k, v] of wanted) {
    const at = items.findIndex((p) => keyOf(p) === k);
    if (at >= 0) {
      items[at].value = reconcile(doc, items[at].value, v);
      previous = at;
    } else {
      // A new key goes right after the last existing key that precedes it in the new value's order.
      items.splice(previous + 1, 0, doc.createPair(k, v) as Pair);
      previous += 1;
    }
  }
}

function reconcileSeq(doc: Document, old: readonly unknown[], value: readonly unknown[]): unknown[] {
  const used = new Set<number>();
  const free = (i: number): boolean => !used.has(i);
  return value.map((v) => {
    let at = -1;
    if (isObject(v) && typeof v.name === 'string') {
      at = old.findIndex((o, i) => free(i) && isMap(o) && o.get('name') === v.name);
    }
    if (at < 0) at = old.findIndex((o, i) => free(i) && sameValue(valueOf(doc, o), v));
    if (at < 0) return doc.createNode(v);
    used.add(at);
    return reconcile(doc, old[at], v);
  });
}

export interface PrintStyle {
  /** `key:\n  - a` (true) or `key:\n- a` (false). */
  readonly indentSeq: boolean;
  /** `{ a: 1 }` (true) or `{a: 1}` (false). */
  readonly flowCollectionPadding: boolean;
}

/**
 * How the source writes block sequences and flow collections, read from the first of each; the stringifier is
 * told to do the same, so re-printed documents look like their source (unknown: the `yaml` defaults).
 */
export function printStyle(doc: Document, source: string): PrintStyle {
  let indentSeq: boolean | undefined;
  let flowCollectionPadding: boolean | undefined;
  const column = (offset: number): number => offset - source.lastIndexOf('\n', offset - 1) - 1;
  visit(doc, {
    Pair(_, pair) {
      if (indentSeq !== undefined || !isPair(pair) || !isSeq(pair.value) || pair.value.flow || !isNode(pair.key)) return undefined;
      const seqRange = pair.value.range;
      const keyRange = pair.key.range;
      if (seqRange && keyRange && pair.value.items.length > 0) indentSeq = column(seqRange[0]) > column(keyRange[0]);
      return undefined;
    },
    Node(_, node) {
      if (flowCollectionPadding !== undefined || !(isMap(node) || isSeq(node)) || !node.flow || !node.range || node.items.length === 0) return undefined;
      flowCollectionPadding = /\s/.test(source.charAt(node.range[0] + 1));
      return undefined;
    },
  });
  return { indentSeq: indentSeq ?? true, flowCollectionPadding: flowCollectionPadding ?? true };
}
