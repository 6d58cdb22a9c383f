/**
 * The pod annotations injection reads — Istio's (same names, same meaning) and sidelane's own under
 * `sidelane.io/` — as one table of names and value parsers. A value that does not parse is refused with the
 * workload, the annotation and what was expected; nothing here decides precedence (see settings.ts).
 */
import { isIP } from 'node:net';
import { isInterfaceName } from '../capture/validation';
import { InjectionError } from './injection-error';
import { parseQuantity } from './quantity';

export type CaptureMode = 'tproxy' | 'redirect' | 'none';
export type OutboundPath = 'hook+tproxy' | 'hook' | 'tproxy' | 'none';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** `'*'` (every port / every address) or an explicit list, possibly empty (nothing). */
export type Wildcard<T> = '*' | readonly T[];

/** What a pod's annotations say, each field present only when its annotation is. */
export interface PodAnnotations {
  inject?: boolean;
  istioInject?: boolean;
  mode?: CaptureMode;
  interceptionMode?: CaptureMode;
  outbound?: OutboundPath;
  includeInboundPorts?: Wildcard<number>;
  excludeInboundPorts?: readonly number[];
  includeOutboundIPRanges?: Wildcard<string>;
  excludeOutboundIPRanges?: readonly string[];
  includeOutboundPorts?: readonly number[];
  excludeOutboundPorts?: readonly number[];
  excludeInterfaces?: readonly string[];
  statusPort?: number;
  istioNativeSidecar?: boolean;
  nativeSidecar?: boolean;
  proxyCPU?: string;
  proxyMemory?: string;
  proxyCPULimit?: string;
  proxyMemoryLimit?: string;
  hookOnProxyDown?: string;
  concurrency?: number;
  logLevel?: LogLevel;
  proxyImage?: string;
  configMap?: string;
  preserveSource?: boolean;
  ipv6?: boolean;
}

/** A value that does not parse; `reason` says which part (the table entry says what was expected). */
class BadValue extends Error {}

export interface AnnotationSpec {
  readonly name: string;
  readonly origin: 'istio' | 'sidelane';
  /** What a valid value looks like, as the error message and the docs say it. */
  readonly expected: string;
  /** One line on what it does (docs/kubernetes.md has the long form). */
  readonly meaning: string;
  /** An empty value means "not set" (Istio's reading of an empty inject annotation: use the default). */
  readonly emptyIsUnset: boolean;
  read(raw: string, into: PodAnnotations): void;
}

function spec<K extends keyof PodAnnotations>(
  name: string,
  origin: 'istio' | 'sidelane',
  key: K,
  expected: string,
  meaning: string,
  parse: (raw: string) => NonNullable<PodAnnotations[K]>,
  emptyIsUnset = false,
): AnnotationSpec {
  return {
    name,
    origin,
    expected,
    meaning,
    emptyIsUnset,
    read(raw, into) {
      into[key] = parse(raw);
    },
  };
}

// ---- value parsers -------------------------------------------------------------------------------------------

const TRUE = new Set(['y', 'yes', 'true', 'on']);
const FALSE = new Set(['n', 'no', 'false', 'off']);

/** Istio's spellings (http://yaml.org/type/bool.html); anything else is refused rather than read as "false". */
export function parseBool(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new BadValue(`"${raw}" is not a boolean`);
}

function parsePort(text: string): number {
  const t = text.trim();
  if (!/^\d{1,5}$/.test(t)) throw new BadValue(`"${t}" is not a port`);
  const n = Number(t);
  if (n < 1 || n > 65535) throw new BadValue(`${n} is outside 1-65535`);
  return n;
}

/** Comma-separated ports; the empty string is the empty list (Istio's "disabled"). */
export function parsePortList(raw: string): number[] {
  if (raw.trim() === '') return [];
  return raw.split(',').map(parsePort);
}

function parsePortListOrWildcard(raw: string): Wildcard<number> {
  return raw.trim() === '*' ? '*' : parsePortList(raw);
}

function parseCidr(text: string): string {
  const t = text.trim();
  const slash = t.indexOf('/');
  if (slash < 0) throw new BadValue(`"${t}" is not a CIDR (address/prefix)`);
  const family = isIP(t.slice(0, slash));
  if (family === 0) throw new BadValue(`"${t.slice(0, slash)}" is not an IP address`);
  const prefix = t.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) throw new BadValue(`"${t}" has a prefix length outside 0-${max}`);
  return t;
}

/** Comma-separated CIDRs; the empty string is the empty list. */
export function parseCidrList(raw: string): string[] {
  if (raw.trim() === '') return [];
  return raw.split(',').map((c) => {
    if (c.trim() === '*') throw new BadValue(`'*' is not allowed here`);
    return parseCidr(c);
  });
}

function parseCidrListOrWildcard(raw: string): Wildcard<string> {
  return raw.trim() === '*' ? '*' : parseCidrList(raw);
}

function parseInterfaces(raw: string): string[] {
  if (raw.trim() === '') return [];
  return raw.split(',').map((i) => {
    const t = i.trim();
    // The same check as `sidelane init --exclude-interfaces` (IFNAMSIZ is 16 with the NUL, a trailing '+' is a
    // prefix match), so an accepted annotation never becomes an init container that fails at pod start.
    if (!isInterfaceName(t)) throw new BadValue(`"${t}" is not an interface name (1-15 of A-Z a-z 0-9 _ . -, optionally ending in +)`);
    return t;
  });
}

function oneOf<T extends string>(values: readonly T[], caseInsensitive = false): (raw: string) => T {
  return (raw) => {
    const v = caseInsensitive ? raw.trim().toLowerCase() : raw.trim();
    const hit = values.find((x) => x === v);
    if (!hit) throw new BadValue(`"${raw}" is not one of ${values.join(', ')}`);
    return hit;
  };
}

function integer(min: number, max: number): (raw: string) => number {
  return (raw) => {
    const t = raw.trim();
    if (!/^\d+$/.test(t) || Number(t) < min || Number(t) > max) throw new BadValue(`"${raw}" is not an integer ${min}-${max}`);
    return Number(t);
  };
}

function quantity(raw: string): string {
  const t = raw.trim();
  if (parseQuantity(t) === undefined) throw new BadValue(`"${raw}" is not a Kubernetes quantity`);
  return t;
}

/** `wait:<ms>` (1-600000), `open` or `closed`: what the hook does while the proxy is not listening yet. */
export function parseHookOnProxyDown(raw: string): string {
  const t = raw.trim();
  if (t === 'open' || t === 'closed') return t;
  const m = /^wait:(\d{1,6})$/.exec(t);
  if (m && Number(m[1]) >= 1 && Number(m[1]) <= 600000) return `wait:${Number(m[1])}`;
  throw new BadValue(`"${raw}" is not wait:<ms>, open or closed`);
}

/** An image reference: registry/path[:tag][@digest], no spaces. */
export function parseImage(raw: string): string {
  const t = raw.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/.test(t) || t.length > 512) throw new BadValue(`"${raw}" is not an image reference`);
  return t;
}

/** A ConfigMap name: a DNS-1123 subdomain. */
export function parseObjectName(raw: string): string {
  const t = raw.trim();
  if (t.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(t)) {
    throw new BadValue(`"${raw}" is not a valid object name (lower-case DNS-1123 subdomain)`);
  }
  return t;
}

const ISTIO_MODES: Readonly<Record<string, CaptureMode>> = { TPROXY: 'tproxy', REDIRECT: 'redirect', NONE: 'none' };

function istioInterceptionMode(raw: string): CaptureMode {
  const mode = ISTIO_MODES[raw.trim()];
  if (!mode) throw new BadValue(`"${raw}" is not TPROXY, REDIRECT or NONE`);
  return mode;
}

// ---- the table ----------------------------------------------------------------------------------------------

const PORTS = 'a comma-separated list of ports 1-65535';
const CIDRS = 'a comma-separated list of CIDRs (address/prefix, IPv4 or IPv6)';
const BOOL = 'true or false (also y/yes/on, n/no/off)';
const QUANTITY = 'a Kubernetes quantity such as 100m, 2, 128Mi';

export const ANNOTATIONS: readonly AnnotationSpec[] = [
  // Istio's, with Istio's meaning.
  spec('sidecar.istio.io/inject', 'istio', 'istioInject', BOOL, 'false opts the workload out (the label of the same name too); sidelane.io/inject wins', parseBool, true),
  spec('sidecar.istio.io/interceptionMode', 'istio', 'interceptionMode', 'TPROXY, REDIRECT or NONE', 'TPROXY → sidelane\'s TPROXY capture (the default), REDIRECT → the nat REDIRECT baseline, NONE → no capture', istioInterceptionMode),
  spec('traffic.sidecar.istio.io/includeInboundPorts', 'istio', 'includeInboundPorts', `'*' or ${PORTS}`, 'inbound ports captured; * (default) all, empty none', parsePortListOrWildcard),
  spec('traffic.sidecar.istio.io/excludeInboundPorts', 'istio', 'excludeInboundPorts', PORTS, 'inbound ports never captured (15090, 15021 and the status port are always added)', parsePortList),
  spec('traffic.sidecar.istio.io/includeOutboundIPRanges', 'istio', 'includeOutboundIPRanges', `'*' or ${CIDRS}`, 'outbound destinations captured; * (default) all, empty none', parseCidrListOrWildcard),
  spec('traffic.sidecar.istio.io/excludeOutboundIPRanges', 'istio', 'excludeOutboundIPRanges', CIDRS, 'outbound destinations never captured', parseCidrList),
  spec('traffic.sidecar.istio.io/includeOutboundPorts', 'istio', 'includeOutboundPorts', PORTS, 'outbound ports captured whatever the destination address', parsePortList),
  spec('traffic.sidecar.istio.io/excludeOutboundPorts', 'istio', 'excludeOutboundPorts', PORTS, 'outbound destination ports never captured', parsePortList),
  spec('traffic.sidecar.istio.io/excludeInterfaces', 'istio', 'excludeInterfaces', 'a comma-separated list of interface names', 'interfaces whose traffic is never captured', parseInterfaces),
  spec('status.sidecar.istio.io/port', 'istio', 'statusPort', 'a port 0-65535 (0: none)', 'the status port, excluded from inbound capture (default 15020)', integer(0, 65535)),
  spec('sidecar.istio.io/nativeSidecar', 'istio', 'istioNativeSidecar', BOOL, 'proxy as a native sidecar (true) or a classic container (false); sidelane.io/native-sidecar wins', parseBool),
  spec('sidecar.istio.io/proxyCPU', 'istio', 'proxyCPU', QUANTITY, 'the proxy container\'s CPU request (default 100m)', quantity),
  spec('sidecar.istio.io/proxyMemory', 'istio', 'proxyMemory', QUANTITY, 'the proxy container\'s memory request (default 128Mi)', quantity),
  spec('sidecar.istio.io/proxyCPULimit', 'istio', 'proxyCPULimit', QUANTITY, 'the proxy container\'s CPU limit (default 2)', quantity),
  spec('sidecar.istio.io/proxyMemoryLimit', 'istio', 'proxyMemoryLimit', QUANTITY, 'the proxy container\'s memory limit (default 1Gi)', quantity),
  // sidelane's own.
  spec('sidelane.io/inject', 'sidelane', 'inject', BOOL, 'false opts the workload out, true opts it in even when sidecar.istio.io/inject is false', parseBool, true),
  spec('sidelane.io/mode', 'sidelane', 'mode', 'tproxy, redirect or none', 'the capture mode; wins over sidecar.istio.io/interceptionMode', oneOf(['tproxy', 'redirect', 'none'] as const)),
  spec('sidelane.io/outbound', 'sidelane', 'outbound', 'hook+tproxy, hook, tproxy or none', 'the outbound capture path (default hook+tproxy)', oneOf(['hook+tproxy', 'hook', 'tproxy', 'none'] as const)),
  spec('sidelane.io/hook-on-proxy-down', 'sidelane', 'hookOnProxyDown', 'wait:<ms> (1-600000), open or closed', 'what a hooked connect() does while the proxy is not listening', parseHookOnProxyDown),
  spec('sidelane.io/concurrency', 'sidelane', 'concurrency', 'an integer 1-1024', 'proxy worker count (default 2)', integer(1, 1024)),
  spec('sidelane.io/log-level', 'sidelane', 'logLevel', 'trace, debug, info, warn, error or fatal', 'proxy log level (default info)', oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const)),
  spec('sidelane.io/proxy-image', 'sidelane', 'proxyImage', 'an image reference', 'the sidelane image for this workload (default: --image)', parseImage),
  spec('sidelane.io/config-map', 'sidelane', 'configMap', 'a ConfigMap name', 'the ConfigMap holding the proxy\'s config.yaml (default: --config-map)', parseObjectName),
  spec('sidelane.io/native-sidecar', 'sidelane', 'nativeSidecar', BOOL, 'proxy as a native sidecar (true) or a classic container (false)', parseBool),
  spec('sidelane.io/preserve-source', 'sidelane', 'preserveSource', BOOL, 'the app sees the client\'s address (default true in tproxy mode)', parseBool),
  spec('sidelane.io/ipv6', 'sidelane', 'ipv6', BOOL, 'capture IPv6 too (default: when the pod has IPv6 addresses)', parseBool),
];

/** Istio annotations whose behaviour sidelane cannot reproduce; refused rather than silently ignored. */
export const UNSUPPORTED_ANNOTATIONS: Readonly<Record<string, string>> = {
  'traffic.sidecar.istio.io/kubevirtInterfaces': 'rerouting virtual interfaces (kubevirt) is not supported by sidelane',
  'istio.io/reroute-virtual-interfaces': 'rerouting virtual interfaces (kubevirt) is not supported by sidelane',
};

const BY_NAME = new Map(ANNOTATIONS.map((a) => [a.name, a]));

export function annotationSpec(name: string): AnnotationSpec | undefined {
  return BY_NAME.get(name);
}

/**
 * Reads every known annotation of a pod template. `workload` names it in errors. Values that are not strings
 * (an unquoted `false` in YAML) are refused: Kubernetes stores annotations as strings and would reject them.
 */
export function readPodAnnotations(
  annotations: Readonly<Record<string, unknown>> | undefined,
  workload: string,
  out: PodAnnotations = {},
): PodAnnotations {
  for (const [name, raw] of Object.entries(annotations ?? {})) {
    const unsupported = UNSUPPORTED_ANNOTATIONS[name];
    if (unsupported) throw new InjectionError(`annotation ${name}: ${unsupported}; remove it or opt the workload out`, { workload, annotation: name });
    const entry = BY_NAME.get(name);
    if (!entry) continue;
    if (typeof raw !== 'string') {
      throw new InjectionError(`annotation ${name}=${JSON.stringify(raw)}: annotation values must be strings (quote it in YAML); expected ${entry.expected}`, { workload, annotation: name });
    }
    if (entry.emptyIsUnset && raw.trim() === '') continue;
    readOne(entry, raw, out, workload);
  }
  return out;
}

/** Parses one value of a named annotation into `into`, or throws the InjectionError a user sees. */
export function readOne(entry: AnnotationSpec, raw: string, into: PodAnnotations, workload: string): void {
  try {
    entry.read(raw, into);
  } catch (err) {
    if (!(err instanceof BadValue)) throw err;
    throw new InjectionError(`annotation ${entry.name}=${shownValue(raw)}: expected ${entry.expected} (${oneLine(err.message)})`, { workload, annotation: entry.name });
  }
}

/** A user's value inside a one-line error: JSON-quoted (control characters escaped), long ones cut. */
function shownValue(raw: string): string {
  return raw.length > 80 ? `${JSON.stringify(raw.slice(0, 80)).slice(0, -1)}…" (${raw.length} characters)` : JSON.stringify(raw);
}

/** A parser's detail, which may quote the value: kept on one line and bounded. */
function oneLine(detail: string): string {
  const escaped = detail.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return escaped.length > 160 ? `${escaped.slice(0, 160)}…` : escaped;
}

/** Reads the `sidecar.istio.io/inject` label, which Istio prefers to the annotation of the same name. */
export function readIstioInjectLabel(labels: Readonly<Record<string, unknown>> | undefined, workload: string): boolean | undefined {
  const raw = labels?.['sidecar.istio.io/inject'];
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw === 'string') {
    try {
      return parseBool(raw);
    } catch {
      // fall through to the error below
    }
  }
  throw new InjectionError(`label sidecar.istio.io/inject=${JSON.stringify(raw)}: expected "true" or "false"`, { workload, annotation: 'sidecar.istio.io/inject' });
}
