import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Container, PodTemplateSpec } from 'kubernetes-types/core/v1';
import { injectedInitArgv } from '../../../src/inject/command-line';
import { InjectionError } from '../../../src/inject/injection-error';
import { injectPodTemplate, stripInjection } from '../../../src/inject/pod-injector';
import type { InjectorOptions } from '../../../src/inject/settings';
import { parseStatus, STATUS_ANNOTATION } from '../../../src/inject/status';

const OPTIONS: InjectorOptions = { image: 'ghcr.io/sidelane/sidelane:0.1.0', nativeSidecar: true, version: '0.1.0' };
const W = 'Deployment/shop/web';
const HOOK = '/var/lib/sidelane/hook/libsidelane_hook.so';

function template(spec: Partial<NonNullable<PodTemplateSpec['spec']>> = {}, annotations?: Record<string, string>): PodTemplateSpec {
  return {
    metadata: { labels: { app: 'web' }, ...(annotations ? { annotations } : {}) },
    spec: { containers: [{ name: 'web', image: 'example.test/web:1' }], ...spec },
  };
}

const names = (cs: readonly Container[] | undefined): string[] => (cs ?? []).map((c) => c.name);

test('native sidecar: init, then the proxy with a startup probe, then the app init containers', () => {
  const { template: t, outcome } = injectPodTemplate(template({ initContainers: [{ name: 'migrate', image: 'm' }] }), OPTIONS, W);
  assert.equal(outcome.kind, 'injected');
  assert.deepEqual(names(t.spec?.initContainers), ['sidelane-init', 'sidelane-proxy', 'migrate']);
  assert.deepEqual(names(t.spec?.containers), ['web']);
  const proxy = t.spec?.initContainers?.[1] as Container;
  assert.equal(proxy.restartPolicy, 'Always');
  assert.deepEqual(proxy.startupProbe?.httpGet, { path: '/healthz/ready', port: 15021 });
  // The app init container runs after the proxy is ready, so it is hooked like the app.
  const migrate = t.spec?.initContainers?.[2] as Container;
  assert.equal(migrate.env?.find((e) => e.name === 'LD_PRELOAD')?.value, HOOK);
});

test('classic sidecar: the proxy is the last container, without restartPolicy or startup probe', () => {
  const { template: t } = injectPodTemplate(template(), { ...OPTIONS, nativeSidecar: false }, W);
  assert.deepEqual(names(t.spec?.initContainers), ['sidelane-init']);
  assert.deepEqual(names(t.spec?.containers), ['web', 'sidelane-proxy']);
  const proxy = t.spec?.containers[1] as Container;
  assert.equal(proxy.restartPolicy, undefined);
  assert.equal(proxy.startupProbe, undefined);
  assert.ok(proxy.readinessProbe);
});

test('the init container has only NET_ADMIN and NET_RAW, runs as root, and writes the hook into the shared emptyDir', () => {
  const { template: t } = injectPodTemplate(template(), OPTIONS, W);
  const init = t.spec?.initContainers?.[0] as Container;
  assert.deepEqual(init.securityContext?.capabilities, { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
  assert.equal(init.securityContext?.runAsUser, 0);
  assert.equal(init.securityContext?.runAsNonRoot, false);
  assert.equal(init.securityContext?.allowPrivilegeEscalation, false);
  assert.deepEqual(init.volumeMounts, [{ name: 'sidelane-hook', mountPath: '/var/lib/sidelane/hook' }]);
  assert.deepEqual(t.spec?.volumes, [{ name: 'sidelane-hook', emptyDir: {} }]);
  const argv = injectedInitArgv(t.spec) as string[];
  assert.equal(argv[argv.indexOf('--hook-dir') + 1], '/var/lib/sidelane/hook');
  const app = t.spec?.containers[0] as Container;
  assert.deepEqual(app.volumeMounts, [{ name: 'sidelane-hook', mountPath: '/var/lib/sidelane/hook', readOnly: true }]);
});

test('LD_PRELOAD is appended to an existing value, in place; other env is kept', () => {
  const c: Container = { name: 'web', env: [{ name: 'A', value: '1' }, { name: 'LD_PRELOAD', value: 'libjemalloc.so.2 libfoo.so' }, { name: 'B', value: '2' }] };
  const { template: t } = injectPodTemplate(template({ containers: [c] }), OPTIONS, W);
  assert.deepEqual(t.spec?.containers[0].env, [
    { name: 'A', value: '1' },
    { name: 'LD_PRELOAD', value: `libjemalloc.so.2 libfoo.so:${HOOK}` },
    { name: 'B', value: '2' },
    { name: 'SIDELANE_OUTBOUND_PORT', value: '15001' },
  ]);
});

test('LD_PRELOAD from valueFrom cannot be appended to: refused with the container named', () => {
  const c: Container = { name: 'web', env: [{ name: 'LD_PRELOAD', valueFrom: { configMapKeyRef: { name: 'x', key: 'y' } } }] };
  assert.throws(() => injectPodTemplate(template({ containers: [c] }), OPTIONS, W), (e: unknown) => e instanceof InjectionError && /container web sets LD_PRELOAD from valueFrom/.test(e.message));
});

test("the app's own Prometheus annotations and default container are kept", () => {
  const own = { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9080', 'kubectl.kubernetes.io/default-container': 'sidecar-x' };
  const { template: t, outcome } = injectPodTemplate(template({}, own), OPTIONS, W);
  const a = t.metadata?.annotations ?? {};
  assert.equal(a['prometheus.io/port'], '9080');
  assert.equal(a['prometheus.io/path'], undefined);
  assert.equal(a['kubectl.kubernetes.io/default-container'], 'sidecar-x');
  assert.equal(a['kubectl.kubernetes.io/default-logs-container'], 'web');
  assert.ok(outcome.kind === 'injected');
  assert.deepEqual(outcome.status.annotations, ['kubectl.kubernetes.io/default-logs-container']);
});

test('Prometheus scrape annotations point at the proxy (15090, /stats/prometheus) and the status says what was added', () => {
  const { template: t } = injectPodTemplate(template(), OPTIONS, W);
  const a = t.metadata?.annotations ?? {};
  assert.deepEqual([a['prometheus.io/scrape'], a['prometheus.io/port'], a['prometheus.io/path']], ['true', '15090', '/stats/prometheus']);
  assert.deepEqual(parseStatus(a[STATUS_ANNOTATION], W), {
    version: '0.1.0',
    mode: 'tproxy',
    outbound: 'hook+tproxy',
    nativeSidecar: true,
    initContainers: ['sidelane-init', 'sidelane-proxy'],
    containers: [],
    volumes: ['sidelane-hook'],
    appContainers: ['web'],
    env: ['LD_PRELOAD', 'SIDELANE_OUTBOUND_PORT'],
    annotations: ['prometheus.io/scrape', 'prometheus.io/port', 'prometheus.io/path', 'kubectl.kubernetes.io/default-container', 'kubectl.kubernetes.io/default-logs-container'],
  });
});

test('hostNetwork pods are left alone', () => {
  const input = template({ hostNetwork: true });
  const { template: t, outcome } = injectPodTemplate(input, OPTIONS, W);
  assert.equal(outcome.kind, 'host-network');
  assert.deepEqual(t, input);
});

test('refusals name the workload and the reason', () => {
  const cases: [PodTemplateSpec, RegExp][] = [
    [{ metadata: {}, spec: { containers: [] } }, /has no containers/],
    [template({ containers: [{ name: 'istio-proxy' }, { name: 'web' }] }), /already injected by Istio/],
    [template({}, { 'sidecar.istio.io/status': '{}' }), /already injected by Istio/],
    [template({ initContainers: [{ name: 'sidelane-init' }] }), /container name sidelane-init is reserved/],
    [template({ volumes: [{ name: 'sidelane-hook', emptyDir: {} }] }), /volume name sidelane-hook is reserved/],
    [template({ containers: [{ name: 'web', volumeMounts: [{ name: 'v', mountPath: '/var/lib/sidelane/hook' }] }] }), /already mounts v at \/var\/lib\/sidelane\/hook/],
    [template({}, { [STATUS_ANNOTATION]: 'not json' }), /sidelane\.io\/status is not a status sidelane wrote/],
  ];
  for (const [input, re] of cases) {
    assert.throws(
      () => injectPodTemplate(input, OPTIONS, W),
      (e: unknown) => e instanceof InjectionError && e.exitCode === 2 && e.message.startsWith(`${W}: `) && re.test(e.message),
      re.source,
    );
  }
});

test('the input template is not modified', () => {
  const input = template({ initContainers: [{ name: 'migrate' }] }, { a: 'b' });
  const copy = structuredClone(input);
  injectPodTemplate(input, OPTIONS, W);
  assert.deepEqual(input, copy);
});

// ---- properties over generated pod templates -----------------------------------------------------------------

const envVar = fc.oneof(
  fc.record({ name: fc.constantFrom('A', 'B', 'PATH', 'JAVA_OPTS'), value: fc.string({ maxLength: 8 }) }, { noNullPrototype: true }),
  fc.record({ name: fc.constant('LD_PRELOAD'), value: fc.constantFrom('/usr/lib/libjemalloc.so.2', 'a.so b.so', 'x.so:y.so') }, { noNullPrototype: true }),
  fc.record({ name: fc.constant('POD_IP'), valueFrom: fc.constant({ fieldRef: { fieldPath: 'status.podIP' } }) }, { noNullPrototype: true }),
);
const uniqueEnv = fc.uniqueArray(envVar, { selector: (e) => e.name, minLength: 1, maxLength: 4 });
const mount = fc.record({ name: fc.constantFrom('data', 'tmp', 'cfg'), mountPath: fc.constantFrom('/data', '/tmp', '/etc/app') }, { noNullPrototype: true });
const container = (name: string): fc.Arbitrary<Container> =>
  fc.record({ name: fc.constant(name), image: fc.constant(`example.test/${name}:1`), env: uniqueEnv, volumeMounts: fc.array(mount, { minLength: 1, maxLength: 2 }) }, { requiredKeys: ['name', 'image'], noNullPrototype: true });
const annotationValues: Record<string, readonly string[]> = {
  'sidelane.io/outbound': ['hook+tproxy', 'hook', 'tproxy', 'none'],
  'sidecar.istio.io/interceptionMode': ['TPROXY', 'REDIRECT', 'NONE'],
  'sidelane.io/native-sidecar': ['true', 'false'],
  'traffic.sidecar.istio.io/excludeOutboundIPRanges': ['10.0.0.0/8', '169.254.169.254/32,fd00::/8'],
  'traffic.sidecar.istio.io/includeOutboundIPRanges': ['*', '10.96.0.0/12', ''],
  'sidelane.io/hook-on-proxy-down': ['open', 'wait:500'],
  'sidelane.io/config-map': ['cfg'],
  'prometheus.io/port': ['8080'],
  'team': ['payments'],
};
const annotations = fc.record(
  Object.fromEntries(Object.entries(annotationValues).map(([k, vs]) => [k, fc.constantFrom(...vs)])),
  { requiredKeys: [], noNullPrototype: true },
)
  // Capture mode none with an outbound path is a refused combination (tested in annotations.test.ts).
  .filter((a) => !(a['sidecar.istio.io/interceptionMode'] === 'NONE' && a['sidelane.io/outbound'] !== undefined && a['sidelane.io/outbound'] !== 'none')) as fc.Arbitrary<
  Record<string, string>
>;
const podTemplate: fc.Arbitrary<PodTemplateSpec> = fc
  .record({
    annotations,
    containers: fc.integer({ min: 1, max: 3 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => container(`app${i}`)))),
    initContainers: fc.option(fc.tuple(container('setup')), { nil: undefined }),
    volumes: fc.option(fc.constant([{ name: 'data', emptyDir: {} }]), { nil: undefined }),
  }, { noNullPrototype: true })
  .map(({ annotations: a, containers, initContainers, volumes }) => {
    const spec: NonNullable<PodTemplateSpec['spec']> = { containers: [...containers] };
    if (initContainers) spec.initContainers = [...initContainers];
    if (volumes) spec.volumes = [...volumes];
    const metadata = Object.keys(a).length ? { labels: { app: 'x' }, annotations: a } : { labels: { app: 'x' } };
    return { metadata, spec };
  });

test('property: injecting twice equals injecting once', () => {
  fc.assert(
    fc.property(podTemplate, fc.boolean(), (t, native) => {
      const options = { ...OPTIONS, nativeSidecar: native };
      const once = injectPodTemplate(t, options, W).template;
      assert.deepEqual(injectPodTemplate(once, options, W).template, once);
    }),
    { numRuns: 300 },
  );
});

test('property: stripping an injection gives back the original template', () => {
  fc.assert(
    fc.property(podTemplate, fc.boolean(), (t, native) => {
      const injected = injectPodTemplate(t, { ...OPTIONS, nativeSidecar: native }, W).template;
      assert.deepEqual(stripInjection(injected, W), t);
    }),
    { numRuns: 300 },
  );
});

test('property: every app container of a hooked pod preloads the hook exactly once and mounts it read-only', () => {
  fc.assert(
    fc.property(podTemplate, (t) => {
      const { template: out, outcome } = injectPodTemplate(t, OPTIONS, W);
      assert.equal(outcome.kind, 'injected');
      if (outcome.kind !== 'injected' || !outcome.status.outbound.startsWith('hook')) return;
      for (const c of [...(out.spec?.containers ?? []), ...(out.spec?.initContainers ?? [])]) {
        if (c.name.startsWith('sidelane-')) continue;
        const preload = c.env?.find((e) => e.name === 'LD_PRELOAD')?.value ?? '';
        assert.equal(preload.split(/[: ]/).filter((p) => p === HOOK).length, 1, `${c.name}: ${preload}`);
        assert.ok(preload.endsWith(HOOK));
        assert.ok(c.volumeMounts?.some((m) => m.name === 'sidelane-hook' && m.readOnly === true));
      }
    }),
    { numRuns: 200 },
  );
});
