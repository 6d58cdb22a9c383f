/**
 * Reads the Kubernetes and Istio objects the demo's mesh is built from — Services, Deployments and VirtualServices
 * in multi-document YAML (kubectl's format) — into small typed records. Pure: text in, records out; anything the
 * demo cannot use is refused with the file, the object and what was expected.
 */
import { parseAllDocuments } from 'yaml';
import { ConfigError } from '../errors';

export type Labels = Readonly<Record<string, string>>;

export interface KubeServicePort {
  readonly port: number;
  readonly name?: string;
  /** A number, a container port name, or absent (= port). */
  readonly targetPort?: number | string;
  readonly appProtocol?: string;
}

export interface KubeService {
  readonly name: string;
  readonly namespace: string;
  readonly selector: Labels;
  readonly ports: readonly KubeServicePort[];
}

export interface KubeContainerPort {
  readonly containerPort: number;
  readonly name?: string;
}

export interface KubeDeployment {
  readonly name: string;
  readonly namespace: string;
  /** The pod template's labels (what Services select and what subsets match). */
  readonly labels: Labels;
  readonly serviceAccount?: string;
  /** Ports of all containers of the pod template. */
  readonly ports: readonly KubeContainerPort[];
}

/** An Istio HTTP route as written in a VirtualService (the fields sidelane's routes understand). */
export interface IstioHttpRoute {
  readonly name?: string;
  readonly match?: readonly Record<string, unknown>[];
  readonly route: readonly { destination: { host: string; subset?: string; port?: number }; weight?: number }[];
  readonly timeout?: string;
  readonly retries?: Record<string, unknown>;
}

export interface IstioVirtualService {
  readonly name: string;
  readonly namespace: string;
  readonly hosts: readonly string[];
  readonly http: readonly IstioHttpRoute[];
}

export interface MeshManifest {
  readonly services: readonly KubeService[];
  readonly deployments: readonly KubeDeployment[];
  readonly virtualServices: readonly IstioVirtualService[];
}

export const EMPTY_MANIFEST: MeshManifest = { services: [], deployments: [], virtualServices: [] };

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where a problem is: `bookinfo.yaml: Deployment reviews-v1: spec.template.metadata.labels`. */
class Locator {
  constructor(
    readonly file: string,
    readonly what: string,
  ) {}
  fail(path: string, expected: string, got?: unknown): never {
    const seen = got === undefined ? '' : `, got ${JSON.stringify(got)}`;
    throw new ConfigError(`${this.file}: ${this.what}: ${path}: expected ${expected}${seen}`, this.file);
  }
}

function str(at: Locator, path: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') at.fail(path, 'a non-empty string', v);
  return v;
}

function labels(at: Locator, path: string, v: unknown): Labels {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) at.fail(path, 'a map of labels', v);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') at.fail(`${path}.${k}`, 'a label value', x);
    out[k] = String(x);
  }
  return out;
}

function portNumber(at: Locator, path: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) at.fail(path, 'a port number 1-65535', v);
  return v;
}

function list(at: Locator, path: string, v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) at.fail(path, 'a list', v);
  return v;
}

function readService(at: Locator, o: Obj, name: string, namespace: string): KubeService {
  const spec = isObj(o.spec) ? o.spec : at.fail('spec', 'an object');
  const ports = list(at, 'spec.ports', spec.ports).map((p, i): KubeServicePort => {
    const path = `spec.ports[${i}]`;
    if (!isObj(p)) at.fail(path, 'an object');
    if (p.protocol !== undefined && p.protocol !== 'TCP') at.fail(`${path}.protocol`, 'TCP (sidelane captures TCP only)', p.protocol);
    const target = p.targetPort;
    if (target !== undefined && typeof target !== 'string') portNumber(at, `${path}.targetPort`, target);
    return {
      port: portNumber(at, `${path}.port`, p.port),
      ...(p.name !== undefined ? { name: str(at, `${path}.name`, p.name) } : {}),
      ...(target !== undefined ? { targetPort: target as number | string } : {}),
      ...(p.appProtocol !== undefined ? { appProtocol: str(at, `${path}.appProtocol`, p.appProtocol) } : {}),
    };
  });
  if (ports.length === 0) at.fail('spec.ports', 'at least one port');
  return { name, namespace, selector: labels(at, 'spec.selector', spec.selector), ports };
}

function readDeployment(at: Locator, o: Obj, name: string, namespace: string): KubeDeployment {
  const template = isObj(o.spec) && isObj(o.spec.template) ? o.spec.template : at.fail('spec.template', 'a pod template');
  const meta = isObj(template.metadata) ? template.metadata : {};
  const podSpec = isObj(template.spec) ? template.spec : at.fail('spec.template.spec', 'a pod spec');
  const ports: KubeContainerPort[] = [];
  list(at, 'spec.template.spec.containers', podSpec.containers).forEach((c, i) => {
    if (!isObj(c)) at.fail(`spec.template.spec.containers[${i}]`, 'a container');
    list(at, `spec.template.spec.containers[${i}].ports`, c.ports).forEach((p, j) => {
      const path = `spec.template.spec.containers[${i}].ports[${j}]`;
      if (!isObj(p)) at.fail(path, 'a container port');
      ports.push({
        containerPort: portNumber(at, `${path}.containerPort`, p.containerPort),
        ...(p.name !== undefined ? { name: str(at, `${path}.name`, p.name) } : {}),
      });
    });
  });
  const account = podSpec.serviceAccountName ?? podSpec.serviceAccount;
  return {
    name,
    namespace,
    labels: labels(at, 'spec.template.metadata.labels', meta.labels),
    ...(account !== undefined ? { serviceAccount: str(at, 'spec.template.spec.serviceAccountName', account) } : {}),
    ports,
  };
}

/** The VirtualService fields sidelane has an equivalent for; anything else is refused rather than ignored. */
const HTTP_ROUTE_FIELDS = new Set(['name', 'match', 'route', 'timeout', 'retries']);

function readVirtualService(at: Locator, o: Obj, name: string, namespace: string): IstioVirtualService {
  const spec = isObj(o.spec) ? o.spec : at.fail('spec', 'an object');
  for (const key of Object.keys(spec)) {
    if (key !== 'hosts' && key !== 'http') at.fail(`spec.${key}`, 'only hosts and http (the demo translates HTTP routes)');
  }
  const hosts = list(at, 'spec.hosts', spec.hosts).map((h, i) => str(at, `spec.hosts[${i}]`, h));
  if (hosts.length === 0) at.fail('spec.hosts', 'at least one host');
  const http = list(at, 'spec.http', spec.http).map((r, i): IstioHttpRoute => {
    const path = `spec.http[${i}]`;
    if (!isObj(r)) at.fail(path, 'an HTTP route');
    for (const key of Object.keys(r)) if (!HTTP_ROUTE_FIELDS.has(key)) at.fail(`${path}.${key}`, `one of ${[...HTTP_ROUTE_FIELDS].join(', ')}`);
    const route = list(at, `${path}.route`, r.route).map((d, j) => {
      const dpath = `${path}.route[${j}]`;
      if (!isObj(d) || !isObj(d.destination)) at.fail(`${dpath}.destination`, 'a destination {host, subset?, port?}');
      const dest = d.destination;
      const port = dest.port === undefined ? undefined : isObj(dest.port) ? portNumber(at, `${dpath}.destination.port.number`, dest.port.number) : at.fail(`${dpath}.destination.port`, '{number: N}', dest.port);
      if (d.weight !== undefined && (typeof d.weight !== 'number' || !Number.isInteger(d.weight) || d.weight < 0)) at.fail(`${dpath}.weight`, 'a weight ≥ 0', d.weight);
      return {
        destination: {
          host: str(at, `${dpath}.destination.host`, dest.host),
          ...(dest.subset !== undefined ? { subset: str(at, `${dpath}.destination.subset`, dest.subset) } : {}),
          ...(port !== undefined ? { port } : {}),
        },
        ...(d.weight !== undefined ? { weight: d.weight as number } : {}),
      };
    });
    if (route.length === 0) at.fail(`${path}.route`, 'at least one destination');
    const match = r.match === undefined ? undefined : list(at, `${path}.match`, r.match).map((m, j) => (isObj(m) ? m : at.fail(`${path}.match[${j}]`, 'a match block', m)));
    return {
      route,
      ...(r.name !== undefined ? { name: str(at, `${path}.name`, r.name) } : {}),
      ...(match !== undefined ? { match } : {}),
      ...(r.timeout !== undefined ? { timeout: str(at, `${path}.timeout`, r.timeout) } : {}),
      ...(r.retries !== undefined ? { retries: isObj(r.retries) ? r.retries : at.fail(`${path}.retries`, 'an object', r.retries) } : {}),
    };
  });
  if (http.length === 0) at.fail('spec.http', 'at least one HTTP route');
  return { name, namespace, hosts, http };
}

/**
 * Reads one multi-document YAML text. Services, Deployments (apps/v1) and VirtualServices (networking.istio.io)
 * are kept; ServiceAccounts and other kinds are skipped (they carry nothing the mesh configuration needs).
 */
export function readManifest(text: string, file: string): MeshManifest {
  const services: KubeService[] = [];
  const deployments: KubeDeployment[] = [];
  const virtualServices: IstioVirtualService[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    if (!('errors' in doc)) return;
    if (doc.errors.length > 0) throw new ConfigError(`${file}: document ${i + 1}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`, file);
    const o: unknown = doc.toJS();
    if (o === null || o === undefined) return;
    if (!isObj(o)) throw new ConfigError(`${file}: document ${i + 1}: expected a Kubernetes object`, file);
    const kind = o.kind;
    const meta = isObj(o.metadata) ? o.metadata : {};
    const name = typeof meta.name === 'string' ? meta.name : `(document ${i + 1})`;
    const at = new Locator(file, `${String(kind)} ${name}`);
    const namespace = meta.namespace === undefined ? 'default' : str(at, 'metadata.namespace', meta.namespace);
    if (typeof meta.name !== 'string' || meta.name === '') at.fail('metadata.name', 'a name', meta.name);
    const group = typeof o.apiVersion === 'string' ? o.apiVersion.split('/')[0] : '';
    if (kind === 'Service' && o.apiVersion === 'v1') services.push(readService(at, o, name, namespace));
    else if (kind === 'Deployment' && group === 'apps') deployments.push(readDeployment(at, o, name, namespace));
    else if (kind === 'VirtualService' && group === 'networking.istio.io') virtualServices.push(readVirtualService(at, o, name, namespace));
  });
  return { services, deployments, virtualServices };
}

/** Several files read as one. */
export function mergeManifests(...parts: readonly MeshManifest[]): MeshManifest {
  return {
    services: parts.flatMap((p) => p.services),
    deployments: parts.flatMap((p) => p.deployments),
    virtualServices: parts.flatMap((p) => p.virtualServices),
  };
}

/** True when every selector label is on the pod. An empty selector selects nothing (as a Service without one). */
export function selects(selector: Labels, podLabels: Labels): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => podLabels[k] === selector[k]);
}
