/**
 * The injection generator, pure: a pod template in, the injected pod template out (sidelane's init container,
 * proxy, hook volume, app-container env and annotations). A template injected before is first restored from its
 * status annotation, so injecting twice equals injecting once and re-injection picks up changed annotations.
 */
import type { Container, EnvVar, PodSpec, PodTemplateSpec } from 'kubernetes-types/core/v1';
import type { ObjectMeta } from 'kubernetes-types/meta/v1';
import { HOOK_DIR, HOOK_PATH, INIT_CONTAINER, PROXY_CONTAINER } from './command-line';
import { InjectionError } from './injection-error';
import { resolveSettings, wantsInjection, PORTS, type InjectionSettings, type InjectorOptions } from './settings';
import { CONFIG_VOLUME, HOOK_VOLUME, hookEnv, hookMount, initContainer, injectedVolumes, proxyContainer } from './sidecar';
import { formatStatus, parseStatus, STATUS_ANNOTATION, type InjectionStatus } from './status';

export type InjectionOutcome =
  | { readonly kind: 'injected'; readonly status: InjectionStatus }
  | { readonly kind: 'opted-out' }
  /** Pods on the node's network namespace are never injected (capture would rewrite the node's rules). */
  | { readonly kind: 'host-network' };

export interface InjectionResult {
  readonly template: PodTemplateSpec;
  readonly outcome: InjectionOutcome;
}

const PROMETHEUS_ANNOTATIONS = {
  'prometheus.io/scrape': 'true',
  'prometheus.io/port': String(PORTS.prometheus),
  'prometheus.io/path': '/stats/prometheus',
} as const;

const DEFAULT_CONTAINER_ANNOTATIONS = ['kubectl.kubernetes.io/default-container', 'kubectl.kubernetes.io/default-logs-container'] as const;
const ISTIO_CONTAINERS = new Set(['istio-proxy', 'istio-init', 'istio-validation']);
const RESERVED_CONTAINERS = new Set([INIT_CONTAINER, PROXY_CONTAINER]);
const RESERVED_VOLUMES = new Set([HOOK_VOLUME, CONFIG_VOLUME]);

/** Injects one pod template. `workload` (kind/namespace/name) names it in errors. The input is not modified. */
export function injectPodTemplate(template: PodTemplateSpec, options: InjectorOptions, workload: string): InjectionResult {
  const clean = stripInjection(template, workload);
  if (!wantsInjection(clean.metadata, workload)) return { template: clean, outcome: { kind: 'opted-out' } };
  if (clean.spec?.hostNetwork === true) return { template: clean, outcome: { kind: 'host-network' } };
  const spec = checkInjectable(clean, workload);
  const settings = resolveSettings(clean.metadata, options, workload);
  return inject(clean, spec, settings, options, workload);
}

function inject(t: PodTemplateSpec, spec: PodSpec, settings: InjectionSettings, options: InjectorOptions, workload: string): InjectionResult {
  const appInit = spec.initContainers ?? [];
  const envNames: string[] = [];
  const hooked = (c: Container): Container => {
    if (!settings.hook) return c;
    const env = appendHookEnv(c, hookEnv(settings), workload);
    for (const e of env.added) if (!envNames.includes(e)) envNames.push(e);
    return { ...c, env: env.env, volumeMounts: [...(c.volumeMounts ?? []), { ...hookMount }] };
  };
  const containers = spec.containers.map(hooked);
  const initContainers = appInit.map(hooked);

  const injectedInit: Container[] = [];
  if (settings.capture.mode !== 'none') injectedInit.push(initContainer(settings));
  const proxy = proxyContainer(settings);
  if (settings.nativeSidecar) injectedInit.push(proxy);
  else containers.push(proxy);

  const volumes = injectedVolumes(settings);
  const annotations: Record<string, string> = { ...(t.metadata?.annotations ?? {}) };
  const addedAnnotations: string[] = [];
  // The app's own scrape annotations win: overwriting them would silently stop its metrics being collected.
  if (!Object.keys(annotations).some((k) => k.startsWith('prometheus.io/'))) {
    for (const [k, v] of Object.entries(PROMETHEUS_ANNOTATIONS)) {
      annotations[k] = v;
      addedAnnotations.push(k);
    }
  }
  // kubectl logs/exec should land in the app, not in the proxy.
  for (const k of DEFAULT_CONTAINER_ANNOTATIONS) {
    if (annotations[k] === undefined) {
      annotations[k] = spec.containers[0].name;
      addedAnnotations.push(k);
    }
  }
  const status: InjectionStatus = {
    version: options.version,
    mode: settings.capture.mode,
    outbound: settings.capture.outbound,
    nativeSidecar: settings.nativeSidecar,
    initContainers: injectedInit.map((c) => c.name),
    containers: settings.nativeSidecar ? [] : [PROXY_CONTAINER],
    volumes: volumes.map((v) => v.name),
    appContainers: settings.hook ? [...appInit, ...spec.containers].map((c) => c.name) : [],
    env: envNames,
    annotations: addedAnnotations,
  };
  annotations[STATUS_ANNOTATION] = formatStatus(status);

  const newSpec: PodSpec = { ...spec, initContainers: [...injectedInit, ...initContainers], containers };
  if (volumes.length) newSpec.volumes = [...(spec.volumes ?? []), ...volumes];
  // metadata first, as a manifest writes it (and as the YAML layer then inserts it).
  return { template: { metadata: { ...t.metadata, annotations }, spec: newSpec }, outcome: { kind: 'injected', status } };
}

/**
 * LD_PRELOAD is appended to (an app may preload its own library: jemalloc, a profiler), the hook's settings
 * are set in place or added. Returns the names injection wrote, for the status record.
 */
function appendHookEnv(c: Container, settings: readonly EnvVar[], workload: string): { env: EnvVar[]; added: string[] } {
  const env = [...(c.env ?? [])];
  const preload = env.findIndex((e) => e.name === 'LD_PRELOAD');
  if (preload < 0) {
    env.push({ name: 'LD_PRELOAD', value: HOOK_PATH });
  } else {
    const existing = env[preload];
    if (existing.valueFrom !== undefined) {
      throw new InjectionError(
        `container ${c.name} sets LD_PRELOAD from valueFrom, to which the hook cannot be appended; give it a literal value, or set sidelane.io/outbound to tproxy`,
        { workload, annotation: 'sidelane.io/outbound' },
      );
    }
    const value = existing.value ?? '';
    const parts = value.split(/[: ]+/).filter(Boolean);
    if (!parts.includes(HOOK_PATH)) env[preload] = { ...existing, value: value === '' ? HOOK_PATH : `${value}:${HOOK_PATH}` };
  }
  for (const e of settings) {
    const at = env.findIndex((x) => x.name === e.name);
    if (at < 0) env.push({ ...e });
    else env[at] = { ...e };
  }
  return { env, added: ['LD_PRELOAD', ...settings.map((e) => e.name)] };
}

/** Refuses templates injection cannot handle, naming what is wrong; returns the (non-empty) spec. */
function checkInjectable(t: PodTemplateSpec, workload: string): PodSpec {
  const annotations = t.metadata?.annotations ?? {};
  const spec = t.spec;
  if (!spec || !Array.isArray(spec.containers) || spec.containers.length === 0) {
    throw new InjectionError('the pod template has no containers (spec.containers is empty or missing)', { workload });
  }
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  if (annotations['sidecar.istio.io/status'] !== undefined || all.some((c) => ISTIO_CONTAINERS.has(c.name))) {
    throw new InjectionError(
      'the pod is already injected by Istio (sidecar.istio.io/status or an istio-proxy container); inject the original manifest, not istioctl kube-inject\'s output',
      { workload, annotation: 'sidecar.istio.io/status' },
    );
  }
  for (const c of all) {
    if (typeof c.name !== 'string' || c.name === '') throw new InjectionError('a container has no name', { workload });
    if (RESERVED_CONTAINERS.has(c.name)) {
      throw new InjectionError(`container name ${c.name} is reserved for sidelane but the pod has no ${STATUS_ANNOTATION}; remove the container or restore the annotation`, {
        workload,
        annotation: STATUS_ANNOTATION,
      });
    }
    const clash = (c.volumeMounts ?? []).find((m) => m.mountPath === HOOK_DIR || m.mountPath === `${HOOK_DIR}/`);
    if (clash) throw new InjectionError(`container ${c.name} already mounts ${clash.name} at ${HOOK_DIR}, where sidelane mounts its hook`, { workload });
  }
  const volume = (spec.volumes ?? []).find((v) => RESERVED_VOLUMES.has(v.name));
  if (volume) throw new InjectionError(`volume name ${volume.name} is reserved for sidelane`, { workload });
  return spec;
}

/**
 * Takes out everything a previous injection added, as recorded in its status annotation; a template without
 * one is returned as an unchanged copy. Lists injection created and that end up empty are removed again.
 */
export function stripInjection(template: PodTemplateSpec, workload: string): PodTemplateSpec {
  const t = structuredClone(template);
  const raw = t.metadata?.annotations?.[STATUS_ANNOTATION];
  if (raw === undefined) return t;
  const status = parseStatus(raw, workload);
  const annotations = { ...t.metadata?.annotations };
  for (const k of [...status.annotations, STATUS_ANNOTATION]) delete annotations[k];
  const metadata: ObjectMeta = { ...t.metadata, annotations };
  if (Object.keys(annotations).length === 0) delete metadata.annotations;
  if (!t.spec) return { ...t, metadata };

  const spec: PodSpec = { ...t.spec };
  const restore = (c: Container): Container => {
    const out: Container = { ...c };
    const mounts = (c.volumeMounts ?? []).filter((m) => !status.volumes.includes(m.name));
    if (c.volumeMounts !== undefined) {
      if (mounts.length) out.volumeMounts = mounts;
      else delete out.volumeMounts;
    }
    if (c.env !== undefined) {
      const env = c.env.flatMap((e): EnvVar[] => {
        if (e.name === 'LD_PRELOAD' && status.env.includes('LD_PRELOAD')) {
          const value = e.value ?? '';
          if (value === HOOK_PATH) return [];
          return [value.endsWith(`:${HOOK_PATH}`) ? { ...e, value: value.slice(0, -HOOK_PATH.length - 1) } : e];
        }
        return status.env.includes(e.name) ? [] : [e];
      });
      if (env.length) out.env = env;
      else delete out.env;
    }
    return out;
  };
  spec.containers = (spec.containers ?? []).filter((c) => !status.containers.includes(c.name)).map(restore);
  const init = (spec.initContainers ?? []).filter((c) => !status.initContainers.includes(c.name)).map(restore);
  if (init.length) spec.initContainers = init;
  else delete spec.initContainers;
  const volumes = (spec.volumes ?? []).filter((v) => !status.volumes.includes(v.name));
  if (volumes.length) spec.volumes = volumes;
  else delete spec.volumes;
  return { ...t, metadata, spec };
}
