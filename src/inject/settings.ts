/**
 * Resolves one workload's injection settings from its annotations and the command's defaults: precedence
 * (sidelane.io/… over Istio's), Istio's derived values (the always-excluded inbound ports), and the
 * combinations sidelane cannot honour, which are refused with the annotation named.
 */
import type { ObjectMeta } from 'kubernetes-types/meta/v1';
import {
  readIstioInjectLabel,
  readPodAnnotations,
  type CaptureMode,
  type LogLevel,
  type OutboundPath,
  type PodAnnotations,
  type Wildcard,
} from './annotations';
import { InjectionError } from './injection-error';
import { parseQuantity } from './quantity';

/** DESIGN 2: the port contract shared with the proxy and with Istio. */
export const PORTS = {
  inbound: 15006,
  outbound: 15001,
  prometheus: 15090,
  health: 15021,
  status: 15020,
} as const;

/** The command line's defaults, applied where a workload has no annotation. */
export interface InjectorOptions {
  /** The sidelane image for the init container and the proxy. */
  readonly image: string;
  /** Native sidecar (init container with restartPolicy: Always) unless false. */
  readonly nativeSidecar: boolean;
  /** ConfigMap with the proxy's config.yaml, mounted at /etc/sidelane; none: the proxy runs on its defaults. */
  readonly configMap?: string;
  /** sidelane's version, recorded in the status annotation. */
  readonly version: string;
}

export interface CaptureSettings {
  readonly mode: CaptureMode;
  readonly outbound: OutboundPath;
  readonly includeInboundPorts: Wildcard<number>;
  /** The full list handed to init: 15090, 15021, the user's, then the status port (Istio's order). */
  readonly excludeInboundPorts: readonly number[];
  readonly includeOutboundCidrs: Wildcard<string>;
  readonly excludeOutboundCidrs: readonly string[];
  readonly includeOutboundPorts: readonly number[];
  readonly excludeOutboundPorts: readonly number[];
  readonly excludeInterfaces: readonly string[];
  readonly preserveSource: boolean;
  /** undefined: let init decide (IPv6 when the pod has global IPv6 addresses). */
  readonly ipv6: boolean | undefined;
}

export interface ProxySettings {
  readonly image: string;
  readonly concurrency: number;
  readonly logLevel: LogLevel;
  readonly configMap: string | undefined;
  readonly resources: {
    readonly requests: { readonly cpu: string; readonly memory: string };
    readonly limits: { readonly cpu: string; readonly memory: string };
  };
}

export interface HookSettings {
  /** SIDELANE_HOOK_ON_PROXY_DOWN, when annotated (the hook has its own default otherwise). */
  readonly onProxyDown: string | undefined;
}

export interface InjectionSettings {
  readonly capture: CaptureSettings;
  readonly proxy: ProxySettings;
  readonly nativeSidecar: boolean;
  /** Present when the outbound path includes the connect() hook. */
  readonly hook: HookSettings | undefined;
}

const DEFAULT_RESOURCES = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } } as const;

/**
 * Whether a workload wants injection: `sidelane.io/inject` decides when present (so a pod can keep Istio's
 * webhook away with `sidecar.istio.io/inject: "false"` and still get sidelane); otherwise Istio's label, then
 * Istio's annotation; otherwise yes.
 */
export function wantsInjection(meta: ObjectMeta | undefined, workload: string): boolean {
  // Only the two inject annotations are read: an opted-out workload's other annotations are not ours to judge.
  const ann: PodAnnotations = {};
  for (const name of ['sidelane.io/inject', 'sidecar.istio.io/inject']) {
    const raw = meta?.annotations?.[name];
    if (raw !== undefined) readPodAnnotations({ [name]: raw }, workload, ann);
  }
  if (ann.inject !== undefined) return ann.inject;
  const label = readIstioInjectLabel(meta?.labels, workload);
  if (label !== undefined) return label;
  return ann.istioInject ?? true;
}

export function resolveSettings(meta: ObjectMeta | undefined, options: InjectorOptions, workload: string): InjectionSettings {
  const ann = readPodAnnotations(meta?.annotations, workload);
  const capture = resolveCapture(ann, workload);
  return {
    capture,
    proxy: resolveProxy(ann, options, workload),
    nativeSidecar: ann.nativeSidecar ?? ann.istioNativeSidecar ?? options.nativeSidecar,
    hook: capture.outbound === 'hook' || capture.outbound === 'hook+tproxy' ? { onProxyDown: ann.hookOnProxyDown } : undefined,
  };
}

function resolveCapture(ann: PodAnnotations, workload: string): CaptureSettings {
  const mode = ann.mode ?? ann.interceptionMode ?? 'tproxy';
  const includeOutboundCidrs = ann.includeOutboundIPRanges ?? '*';
  const includeOutboundPorts = ann.includeOutboundPorts ?? [];
  const statusPort = ann.statusPort ?? PORTS.status;
  const excludeInboundPorts = dedupe([PORTS.prometheus, PORTS.health, ...(ann.excludeInboundPorts ?? []), ...(statusPort === 0 ? [] : [statusPort])]);
  const outbound = resolveOutbound(mode, ann, includeOutboundCidrs, includeOutboundPorts, workload);
  if (mode === 'redirect' && ann.preserveSource === true) {
    throw new InjectionError(
      'annotation sidelane.io/preserve-source="true": nat REDIRECT cannot preserve the client address; use sidelane.io/mode tproxy (or sidecar.istio.io/interceptionMode TPROXY) or remove the annotation',
      { workload, annotation: 'sidelane.io/preserve-source' },
    );
  }
  return {
    mode,
    outbound,
    includeInboundPorts: ann.includeInboundPorts ?? '*',
    excludeInboundPorts,
    includeOutboundCidrs,
    excludeOutboundCidrs: ann.excludeOutboundIPRanges ?? [],
    includeOutboundPorts,
    excludeOutboundPorts: ann.excludeOutboundPorts ?? [],
    excludeInterfaces: ann.excludeInterfaces ?? [],
    // nat REDIRECT cannot preserve the source (the proxy reaches the app from 127.0.0.6); NONE captures nothing.
    preserveSource: mode === 'tproxy' ? (ann.preserveSource ?? true) : false,
    ipv6: ann.ipv6,
  };
}

/**
 * The outbound path actually installed. The hook matches destinations by address only, so:
 * an empty includeOutboundIPRanges (Istio: "no outbound capture by address") leaves the hook nothing to do, and
 * includeOutboundPorts outside the included ranges can only be caught by the kernel path.
 */
function resolveOutbound(
  mode: CaptureMode,
  ann: PodAnnotations,
  includeCidrs: Wildcard<string>,
  includePorts: readonly number[],
  workload: string,
): OutboundPath {
  if (mode === 'none') {
    if (ann.outbound !== undefined && ann.outbound !== 'none') {
      throw new InjectionError(`annotation sidelane.io/outbound="${ann.outbound}": capture mode is none, so nothing installs the outbound capture; remove one of the two annotations`, {
        workload,
        annotation: 'sidelane.io/outbound',
      });
    }
    return 'none';
  }
  const requested = ann.outbound ?? 'hook+tproxy';
  const rangesEmpty = includeCidrs !== '*' && includeCidrs.length === 0;
  const portsBeyondRanges = includeCidrs !== '*' && includePorts.length > 0;
  if (requested === 'hook' && portsBeyondRanges) {
    throw new InjectionError(
      'annotation traffic.sidecar.istio.io/includeOutboundPorts: the connect() hook alone cannot capture by port outside includeOutboundIPRanges; set sidelane.io/outbound to hook+tproxy or tproxy',
      { workload, annotation: 'traffic.sidecar.istio.io/includeOutboundPorts' },
    );
  }
  if (rangesEmpty) {
    if (includePorts.length === 0) return 'none';
    return requested === 'none' ? 'none' : 'tproxy';
  }
  return requested;
}

function resolveProxy(ann: PodAnnotations, options: InjectorOptions, workload: string): ProxySettings {
  const cpu = resource(ann.proxyCPU, ann.proxyCPULimit, DEFAULT_RESOURCES.requests.cpu, DEFAULT_RESOURCES.limits.cpu, 'proxyCPU', workload);
  const memory = resource(ann.proxyMemory, ann.proxyMemoryLimit, DEFAULT_RESOURCES.requests.memory, DEFAULT_RESOURCES.limits.memory, 'proxyMemory', workload);
  return {
    image: ann.proxyImage ?? options.image,
    concurrency: ann.concurrency ?? 2,
    logLevel: ann.logLevel ?? 'info',
    configMap: ann.configMap ?? options.configMap,
    resources: { requests: { cpu: cpu.request, memory: memory.request }, limits: { cpu: cpu.limit, memory: memory.limit } },
  };
}

/**
 * The API server refuses a request above its limit. When only one side is annotated, the default of the other
 * side moves with it (a request of 4 CPUs raises the default limit of 2; a limit of 50m lowers the default
 * request of 100m); when both are annotated and disagree, the user is told here, naming the request annotation.
 */
function resource(
  request: string | undefined,
  limit: string | undefined,
  defaultRequest: string,
  defaultLimit: string,
  name: 'proxyCPU' | 'proxyMemory',
  workload: string,
): { request: string; limit: string } {
  const size = (q: string): number => parseQuantity(q) as number; // every value here was validated
  if (request !== undefined && limit !== undefined) {
    if (size(request) > size(limit)) {
      throw new InjectionError(`annotation sidecar.istio.io/${name}="${request}" is above sidecar.istio.io/${name}Limit="${limit}"; a request must not exceed its limit`, {
        workload,
        annotation: `sidecar.istio.io/${name}`,
      });
    }
    return { request, limit };
  }
  if (request !== undefined) return { request, limit: size(request) > size(defaultLimit) ? request : defaultLimit };
  if (limit !== undefined) return { request: size(defaultRequest) > size(limit) ? limit : defaultRequest, limit };
  return { request: defaultRequest, limit: defaultLimit };
}

function dedupe<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
