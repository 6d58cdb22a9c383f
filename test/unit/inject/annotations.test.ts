import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Container, PodTemplateSpec } from 'kubernetes-types/core/v1';
import { ANNOTATIONS } from '../../../src/inject/annotations';
import { injectedInitArgv } from '../../../src/inject/command-line';
import { InjectionError } from '../../../src/inject/injection-error';
import { injectPodTemplate } from '../../../src/inject/pod-injector';
import type { InjectorOptions } from '../../../src/inject/settings';
import { parseStatus, STATUS_ANNOTATION, type InjectionStatus } from '../../../src/inject/status';

const OPTIONS: InjectorOptions = { image: 'ghcr.io/sidelane/sidelane:0.1.0', nativeSidecar: true, version: '0.1.0' };
const WORKLOAD = 'Deployment/shop/web';

interface Injected {
  readonly init: string[] | undefined;
  readonly proxy: Container;
  readonly app: Container;
  readonly env: Record<string, string>;
  readonly status: InjectionStatus | undefined;
  readonly template: PodTemplateSpec;
}

function injectWith(annotations: Record<string, string>, labels: Record<string, string> = {}): Injected {
  const template: PodTemplateSpec = {
    metadata: { labels: { app: 'web', ...labels }, annotations },
    spec: { containers: [{ name: 'web', image: 'example.test/web:1' }] },
  };
  const { template: t } = injectPodTemplate(template, OPTIONS, WORKLOAD);
  const all = [...(t.spec?.initContainers ?? []), ...(t.spec?.containers ?? [])];
  const app = all.find((c) => c.name === 'web') as Container;
  const raw = t.metadata?.annotations?.[STATUS_ANNOTATION];
  return {
    init: injectedInitArgv(t.spec),
    proxy: all.find((c) => c.name === 'sidelane-proxy') as Container,
    app,
    env: Object.fromEntries((app.env ?? []).map((e) => [e.name, e.value ?? ''])),
    status: raw === undefined ? undefined : parseStatus(raw, WORKLOAD),
    template: t,
  };
}

/** The value following `flag` in an argv, undefined when the flag is absent. */
function flag(argv: readonly string[] | undefined, name: string): string | undefined {
  const i = argv?.indexOf(name) ?? -1;
  return i < 0 ? undefined : argv?.[i + 1];
}

interface Case {
  readonly value: string;
  readonly check: (r: Injected) => void;
}

/** For every annotation: values that must work (and what they must do) and values that must be refused. */
const TABLE: Readonly<Record<string, { valid: readonly Case[]; invalid: readonly string[] }>> = {
  'sidecar.istio.io/inject': {
    valid: [
      { value: 'false', check: (r) => assert.equal(r.status, undefined) },
      { value: 'No', check: (r) => assert.equal(r.status, undefined) },
      { value: 'true', check: (r) => assert.ok(r.status) },
      { value: 'on', check: (r) => assert.ok(r.status) },
      // Istio: empty means "use the default", which is to inject.
      { value: '', check: (r) => assert.ok(r.status) },
    ],
    invalid: ['maybe', '0'],
  },
  'sidecar.istio.io/interceptionMode': {
    valid: [
      { value: 'TPROXY', check: (r) => assert.equal(flag(r.init, '--mode'), 'tproxy') },
      {
        value: 'REDIRECT',
        check: (r) => {
          assert.equal(flag(r.init, '--mode'), 'redirect');
          assert.equal(flag(r.proxy.args, '--capture-mode'), 'redirect');
        },
      },
      {
        value: 'NONE',
        check: (r) => {
          assert.equal(r.init, undefined);
          assert.equal(r.env.LD_PRELOAD, undefined);
          assert.equal(r.status?.mode, 'none');
          assert.ok(r.proxy);
        },
      },
    ],
    invalid: ['tproxy', 'DROP', ''],
  },
  'traffic.sidecar.istio.io/includeInboundPorts': {
    valid: [
      { value: '*', check: (r) => assert.equal(flag(r.init, '--include-inbound-ports'), '*') },
      { value: '9080, 8443', check: (r) => assert.equal(flag(r.init, '--include-inbound-ports'), '9080,8443') },
      { value: '', check: (r) => assert.equal(flag(r.init, '--include-inbound-ports'), '') },
    ],
    invalid: ['abc', '0', '65536', '80,', '80;81', '*,80'],
  },
  'traffic.sidecar.istio.io/excludeInboundPorts': {
    valid: [
      { value: '22,5432', check: (r) => assert.equal(flag(r.init, '--exclude-inbound-ports'), '15090,15021,22,5432,15020') },
      { value: '15020,22', check: (r) => assert.equal(flag(r.init, '--exclude-inbound-ports'), '15090,15021,15020,22') },
      { value: '', check: (r) => assert.equal(flag(r.init, '--exclude-inbound-ports'), '15090,15021,15020') },
    ],
    invalid: ['*', 'ssh', '70000'],
  },
  'traffic.sidecar.istio.io/includeOutboundIPRanges': {
    valid: [
      {
        value: '*',
        check: (r) => {
          assert.equal(flag(r.init, '--include-outbound-cidrs'), '*');
          assert.equal(r.env.SIDELANE_INCLUDE_CIDRS, undefined);
        },
      },
      {
        value: '10.96.0.0/12, 2001:db8::/32',
        check: (r) => {
          assert.equal(flag(r.init, '--include-outbound-cidrs'), '10.96.0.0/12,2001:db8::/32');
          assert.equal(r.env.SIDELANE_INCLUDE_CIDRS, '10.96.0.0/12,2001:db8::/32');
        },
      },
      {
        // Istio: an empty list turns outbound capture off.
        value: '',
        check: (r) => {
          assert.equal(flag(r.init, '--outbound'), 'none');
          assert.equal(flag(r.init, '--hook-dir'), undefined);
          assert.equal(r.env.LD_PRELOAD, undefined);
        },
      },
    ],
    invalid: ['10.0.0.0', '10.0.0.0/33', '2001:db8::/129', 'example.test/8', '10.0.0.0/8,*'],
  },
  'traffic.sidecar.istio.io/excludeOutboundIPRanges': {
    valid: [
      {
        value: '169.254.169.254/32,fd00::/8',
        check: (r) => {
          assert.equal(flag(r.init, '--exclude-outbound-cidrs'), '169.254.169.254/32,fd00::/8');
          assert.equal(r.env.SIDELANE_EXCLUDE_CIDRS, '169.254.169.254/32,fd00::/8');
        },
      },
      { value: '', check: (r) => assert.equal(flag(r.init, '--exclude-outbound-cidrs'), undefined) },
    ],
    invalid: ['*', '1.2.3.4', '1.2.3.4/-1'],
  },
  'traffic.sidecar.istio.io/includeOutboundPorts': {
    valid: [{ value: '3306', check: (r) => assert.equal(flag(r.init, '--include-outbound-ports'), '3306') }],
    invalid: ['mysql', '*'],
  },
  'traffic.sidecar.istio.io/excludeOutboundPorts': {
    valid: [
      {
        value: '25,587',
        check: (r) => {
          assert.equal(flag(r.init, '--exclude-outbound-ports'), '25,587');
          assert.equal(r.env.SIDELANE_EXCLUDE_PORTS, '25,587');
        },
      },
    ],
    invalid: ['smtp', '-1'],
  },
  'traffic.sidecar.istio.io/excludeInterfaces': {
    valid: [{ value: 'eth1,net1', check: (r) => assert.equal(flag(r.init, '--exclude-interfaces'), 'eth1,net1') }],
    invalid: ['a-name-longer-than-15', 'eth/0', 'eth 0'],
  },
  'status.sidecar.istio.io/port': {
    valid: [
      { value: '15999', check: (r) => assert.equal(flag(r.init, '--exclude-inbound-ports'), '15090,15021,15999') },
      { value: '0', check: (r) => assert.equal(flag(r.init, '--exclude-inbound-ports'), '15090,15021') },
    ],
    invalid: ['-1', '65536', 'status'],
  },
  'sidecar.istio.io/nativeSidecar': {
    valid: [
      {
        value: 'false',
        check: (r) => {
          assert.equal(r.proxy.restartPolicy, undefined);
          assert.ok(r.template.spec?.containers.some((c) => c.name === 'sidelane-proxy'));
        },
      },
      { value: 'true', check: (r) => assert.equal(r.proxy.restartPolicy, 'Always') },
    ],
    invalid: ['native'],
  },
  'sidecar.istio.io/proxyCPU': {
    valid: [
      { value: '500m', check: (r) => assert.equal(r.proxy.resources?.requests?.cpu, '500m') },
      // A request above the default limit raises the limit with it (the API server refuses request > limit).
      { value: '4', check: (r) => assert.deepEqual([r.proxy.resources?.requests?.cpu, r.proxy.resources?.limits?.cpu], ['4', '4']) },
    ],
    invalid: ['half', '1.5 cores', '-1'],
  },
  'sidecar.istio.io/proxyMemory': {
    valid: [{ value: '256Mi', check: (r) => assert.equal(r.proxy.resources?.requests?.memory, '256Mi') }],
    invalid: ['256MB', 'lots'],
  },
  'sidecar.istio.io/proxyCPULimit': {
    valid: [
      { value: '1500m', check: (r) => assert.equal(r.proxy.resources?.limits?.cpu, '1500m') },
      { value: '50m', check: (r) => assert.deepEqual([r.proxy.resources?.requests?.cpu, r.proxy.resources?.limits?.cpu], ['50m', '50m']) },
    ],
    invalid: ['1.5.0'],
  },
  'sidecar.istio.io/proxyMemoryLimit': {
    valid: [{ value: '2Gi', check: (r) => assert.equal(r.proxy.resources?.limits?.memory, '2Gi') }],
    invalid: ['2 GiB'],
  },
  'sidelane.io/inject': {
    valid: [
      { value: 'false', check: (r) => assert.equal(r.status, undefined) },
      { value: 'true', check: (r) => assert.ok(r.status) },
      { value: '', check: (r) => assert.ok(r.status) },
    ],
    invalid: ['disabled'],
  },
  'sidelane.io/mode': {
    valid: [
      { value: 'redirect', check: (r) => assert.equal(flag(r.init, '--mode'), 'redirect') },
      { value: 'none', check: (r) => assert.equal(r.init, undefined) },
      { value: 'tproxy', check: (r) => assert.equal(flag(r.init, '--mode'), 'tproxy') },
    ],
    invalid: ['TPROXY', 'ebpf'],
  },
  'sidelane.io/outbound': {
    valid: [
      {
        value: 'hook',
        check: (r) => {
          assert.equal(flag(r.init, '--outbound'), 'hook');
          assert.equal(flag(r.init, '--hook-dir'), '/var/lib/sidelane/hook');
          assert.equal(r.env.LD_PRELOAD, '/var/lib/sidelane/hook/libsidelane_hook.so');
        },
      },
      {
        value: 'tproxy',
        check: (r) => {
          assert.equal(flag(r.init, '--outbound'), 'tproxy');
          assert.equal(flag(r.init, '--hook-dir'), undefined);
          assert.equal(r.env.LD_PRELOAD, undefined);
          assert.equal(r.app.volumeMounts, undefined);
          assert.equal(r.template.spec?.volumes, undefined);
        },
      },
      { value: 'none', check: (r) => assert.equal(flag(r.init, '--outbound'), 'none') },
      { value: 'hook+tproxy', check: (r) => assert.equal(flag(r.init, '--outbound'), 'hook+tproxy') },
    ],
    invalid: ['hook,tproxy', 'ebpf', 'HOOK'],
  },
  'sidelane.io/hook-on-proxy-down': {
    valid: [
      { value: 'wait:2500', check: (r) => assert.equal(r.env.SIDELANE_HOOK_ON_PROXY_DOWN, 'wait:2500') },
      { value: 'open', check: (r) => assert.equal(r.env.SIDELANE_HOOK_ON_PROXY_DOWN, 'open') },
      { value: 'closed', check: (r) => assert.equal(r.env.SIDELANE_HOOK_ON_PROXY_DOWN, 'closed') },
    ],
    invalid: ['wait', 'wait:0', 'wait:600001', 'wait:1s', 'fail'],
  },
  'sidelane.io/concurrency': {
    valid: [{ value: '8', check: (r) => assert.equal(flag(r.proxy.args, '--concurrency'), '8') }],
    invalid: ['0', '1025', 'auto', '2.5'],
  },
  'sidelane.io/log-level': {
    valid: [{ value: 'debug', check: (r) => assert.equal(flag(r.proxy.args, '--log-level'), 'debug') }],
    invalid: ['warning', 'verbose'],
  },
  'sidelane.io/proxy-image': {
    valid: [
      {
        value: 'registry.test:5000/team/sidelane@sha256:0123abcd',
        check: (r) => {
          assert.equal(r.proxy.image, 'registry.test:5000/team/sidelane@sha256:0123abcd');
          assert.equal(r.template.spec?.initContainers?.[0].image, 'registry.test:5000/team/sidelane@sha256:0123abcd');
        },
      },
    ],
    invalid: ['', 'two words', '-flag'],
  },
  'sidelane.io/config-map': {
    valid: [
      {
        value: 'web-sidelane',
        check: (r) => {
          assert.equal(flag(r.proxy.args, '--config'), '/etc/sidelane/config.yaml');
          assert.deepEqual(r.template.spec?.volumes?.find((v) => v.name === 'sidelane-config')?.configMap, { name: 'web-sidelane' });
        },
      },
    ],
    invalid: ['Web_Config', 'a..b', ''],
  },
  'sidelane.io/native-sidecar': {
    valid: [{ value: 'false', check: (r) => assert.equal(r.proxy.restartPolicy, undefined) }],
    invalid: ['classic'],
  },
  'sidelane.io/preserve-source': {
    valid: [
      {
        value: 'false',
        check: (r) => {
          assert.ok(r.init?.includes('--no-preserve-source'));
          assert.ok(r.proxy.args?.includes('--no-preserve-source'));
        },
      },
      { value: 'true', check: (r) => assert.ok(!r.init?.includes('--no-preserve-source')) },
    ],
    invalid: ['client'],
  },
  'sidelane.io/ipv6': {
    valid: [
      { value: 'true', check: (r) => assert.ok(r.init?.includes('--ipv6')) },
      {
        value: 'false',
        check: (r) => {
          assert.ok(r.init?.includes('--no-ipv6'));
          assert.ok(r.proxy.args?.includes('--no-ipv6'));
        },
      },
    ],
    invalid: ['dual'],
  },
};

test('the table covers every annotation sidelane reads', () => {
  assert.deepEqual(Object.keys(TABLE).sort(), ANNOTATIONS.map((a) => a.name).sort());
});

for (const [name, { valid, invalid }] of Object.entries(TABLE)) {
  for (const c of valid) {
    test(`${name}=${JSON.stringify(c.value)} is honoured`, () => c.check(injectWith({ [name]: c.value })));
  }
  for (const value of invalid) {
    test(`${name}=${JSON.stringify(value)} is refused, naming the workload and the annotation`, () => {
      assert.throws(
        () => injectWith({ [name]: value }),
        (err: unknown) =>
          err instanceof InjectionError &&
          err.exitCode === 2 &&
          err.annotation === name &&
          err.message.startsWith(`${WORKLOAD}: annotation ${name}=${JSON.stringify(value)}: expected `),
      );
    });
  }
}

test('defaults without annotations: Istio-compatible capture flags, hook, native sidecar', () => {
  const r = injectWith({});
  assert.deepEqual(r.init, [
    'sidelane', 'init', '--mode', 'tproxy', '--outbound', 'hook+tproxy', '--inbound-port', '15006', '--outbound-port', '15001',
    '--include-inbound-ports', '*', '--exclude-inbound-ports', '15090,15021,15020', '--include-outbound-cidrs', '*',
    '--hook-dir', '/var/lib/sidelane/hook',
  ]);
  assert.deepEqual([...(r.proxy.command ?? []), ...(r.proxy.args ?? [])], ['sidelane', 'run', '--concurrency', '2', '--log-level', 'info']);
  assert.deepEqual(r.env, { LD_PRELOAD: '/var/lib/sidelane/hook/libsidelane_hook.so', SIDELANE_OUTBOUND_PORT: '15001' });
});

test('precedence: sidelane.io/* wins over the Istio annotation of the same meaning', () => {
  assert.equal(flag(injectWith({ 'sidelane.io/mode': 'tproxy', 'sidecar.istio.io/interceptionMode': 'REDIRECT' }).init, '--mode'), 'tproxy');
  assert.equal(injectWith({ 'sidelane.io/native-sidecar': 'true', 'sidecar.istio.io/nativeSidecar': 'false' }).proxy.restartPolicy, 'Always');
  assert.ok(injectWith({ 'sidelane.io/inject': 'true', 'sidecar.istio.io/inject': 'false' }).status);
  assert.ok(injectWith({ 'sidelane.io/inject': 'true' }, { 'sidecar.istio.io/inject': 'false' }).status);
  assert.equal(injectWith({}, { 'sidecar.istio.io/inject': 'false' }).status, undefined);
  // Istio: the label wins over the (deprecated) annotation.
  assert.equal(injectWith({ 'sidecar.istio.io/inject': 'true' }, { 'sidecar.istio.io/inject': 'false' }).status, undefined);
});

test('an opted-out workload is not judged on its other annotations', () => {
  assert.equal(injectWith({ 'sidelane.io/inject': 'false', 'sidelane.io/concurrency': 'lots' }).status, undefined);
});

test('combinations sidelane cannot honour are refused with the annotation named', () => {
  const cases: [Record<string, string>, string][] = [
    [{ 'sidelane.io/mode': 'none', 'sidelane.io/outbound': 'hook' }, 'sidelane.io/outbound'],
    [{ 'sidecar.istio.io/interceptionMode': 'REDIRECT', 'sidelane.io/preserve-source': 'true' }, 'sidelane.io/preserve-source'],
    [
      { 'sidelane.io/outbound': 'hook', 'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.0.0.0/8', 'traffic.sidecar.istio.io/includeOutboundPorts': '3306' },
      'traffic.sidecar.istio.io/includeOutboundPorts',
    ],
    [{ 'sidecar.istio.io/proxyCPU': '3', 'sidecar.istio.io/proxyCPULimit': '1' }, 'sidecar.istio.io/proxyCPU'],
    [{ 'traffic.sidecar.istio.io/kubevirtInterfaces': 'net1' }, 'traffic.sidecar.istio.io/kubevirtInterfaces'],
    [{ 'istio.io/reroute-virtual-interfaces': 'net1' }, 'istio.io/reroute-virtual-interfaces'],
  ];
  for (const [annotations, name] of cases) {
    assert.throws(
      () => injectWith(annotations),
      (err: unknown) => err instanceof InjectionError && err.annotation === name && err.message.startsWith(`${WORKLOAD}: `),
      JSON.stringify(annotations),
    );
  }
});

test('outbound path when includeOutboundIPRanges is empty but includeOutboundPorts is set: the kernel path only', () => {
  const r = injectWith({ 'traffic.sidecar.istio.io/includeOutboundIPRanges': '', 'traffic.sidecar.istio.io/includeOutboundPorts': '3306' });
  assert.equal(flag(r.init, '--outbound'), 'tproxy');
  assert.equal(flag(r.init, '--include-outbound-ports'), '3306');
  assert.equal(r.env.LD_PRELOAD, undefined);
});

test('an annotation value that is not a string (unquoted YAML boolean) is refused', () => {
  assert.throws(
    () => injectPodTemplate({ metadata: { annotations: { 'sidelane.io/ipv6': true as unknown as string } }, spec: { containers: [{ name: 'a' }] } }, OPTIONS, WORKLOAD),
    /annotation sidelane\.io\/ipv6=true: annotation values must be strings \(quote it in YAML\)/,
  );
});
