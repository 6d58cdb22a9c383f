/**
 * Which Kubernetes objects carry a pod template, where it sits inside each kind, and how a workload is named
 * in messages (kind/namespace/name). Kinds are matched with their API group, so a custom resource that happens
 * to be called `Deployment` passes through untouched.
 */

/** A path inside an object: keys and list indices. */
export type ObjectPath = readonly (string | number)[];

interface WorkloadKind {
  readonly groups: readonly string[];
  /** Path of the PodTemplateSpec; empty for a Pod, whose own metadata and spec are the template. */
  readonly template: ObjectPath;
}

const KINDS: Readonly<Record<string, WorkloadKind>> = {
  Pod: { groups: [''], template: [] },
  Deployment: { groups: ['apps', 'extensions'], template: ['spec', 'template'] },
  StatefulSet: { groups: ['apps'], template: ['spec', 'template'] },
  DaemonSet: { groups: ['apps', 'extensions'], template: ['spec', 'template'] },
  ReplicaSet: { groups: ['apps', 'extensions'], template: ['spec', 'template'] },
  ReplicationController: { groups: [''], template: ['spec', 'template'] },
  Job: { groups: ['batch'], template: ['spec', 'template'] },
  CronJob: { groups: ['batch'], template: ['spec', 'jobTemplate', 'spec', 'template'] },
};

export const WORKLOAD_KINDS: readonly string[] = Object.keys(KINDS);

export interface KubeObject {
  readonly apiVersion?: unknown;
  readonly kind?: unknown;
  readonly metadata?: { readonly name?: unknown; readonly namespace?: unknown };
  readonly [key: string]: unknown;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function group(apiVersion: unknown): string | undefined {
  if (typeof apiVersion !== 'string') return undefined;
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** The pod template's path for a workload object, or undefined for anything else. */
export function podTemplatePath(obj: KubeObject): ObjectPath | undefined {
  if (typeof obj.kind !== 'string') return undefined;
  const kind = KINDS[obj.kind];
  const g = group(obj.apiVersion);
  if (!kind || g === undefined || !kind.groups.includes(g)) return undefined;
  return kind.template;
}

/** `v1 List` and the typed lists (`DeploymentList`, …) that `kubectl get -o yaml` prints. */
export function isList(obj: KubeObject): boolean {
  return typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items);
}

/** kind/namespace/name, or kind/name when the object names no namespace (kubectl's context decides it). */
export function workloadName(obj: KubeObject): string {
  const kind = typeof obj.kind === 'string' ? obj.kind : 'object';
  const name = typeof obj.metadata?.name === 'string' ? obj.metadata.name : '(unnamed)';
  const ns = obj.metadata?.namespace;
  return typeof ns === 'string' && ns !== '' ? `${kind}/${ns}/${name}` : `${kind}/${name}`;
}

export function getIn(obj: unknown, path: ObjectPath): unknown {
  let cur: unknown = obj;
  for (const key of path) {
    if (typeof key === 'number') cur = Array.isArray(cur) ? cur[key] : undefined;
    else cur = isObject(cur) ? cur[key] : undefined;
  }
  return cur;
}
