import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { injectManifest } from '../../../src/inject/manifest';
import { InjectionError } from '../../../src/inject/injection-error';
import type { InjectorOptions } from '../../../src/inject/settings';
import { ConfigError } from '../../../src/errors';
import { assertGolden, readFixture } from '../../support/golden-file';

const OPTIONS: InjectorOptions = { image: 'ghcr.io/sidelane/sidelane:0.1.0', nativeSidecar: true, version: '0.1.0' };

/** The source text of each document, split the way the injector splits it. */
function documentTexts(source: string): string[] {
  const docs = parseAllDocuments(source);
  return docs.map((d, i) => source.slice(i === 0 ? 0 : d.range[0], i + 1 < docs.length ? docs[i + 1].range[0] : source.length));
}

for (const name of ['bookinfo', 'hello', 'kinds']) {
  test(`${name}.yaml injected matches ${name}.golden.yaml`, () => {
    const { text } = injectManifest(readFixture('inject', `${name}.yaml`), OPTIONS, `${name}.yaml`);
    assertGolden(text, 'inject', `${name}.golden.yaml`);
  });

  test(`${name}.yaml: injecting twice equals injecting once`, () => {
    const once = injectManifest(readFixture('inject', `${name}.yaml`), OPTIONS).text;
    const twice = injectManifest(once, OPTIONS).text;
    assert.equal(twice, once);
  });

  test(`${name}.yaml: injection only adds lines (comments, order and quoting of the source survive)`, () => {
    const source = readFixture('inject', `${name}.yaml`);
    // Trailing blanks are the one thing a re-printed document drops (hello.yaml has `matchLabels: `).
    const out = injectManifest(source, OPTIONS).text.split('\n').map((l) => l.trimEnd());
    // Every source line appears in the output, in order (an LCS-free check: a forward scan).
    let at = 0;
    const changed = new Set(['      value: /usr/lib/libjemalloc.so.2', '    sidelane.io/hook-on-proxy-down: "wait:2000"   # the hook waits up to 2 s for the proxy']);
    for (const raw of source.split('\n')) {
      if (changed.has(raw)) continue;
      const line = raw.trimEnd(); // the two lines injection rewrites on purpose (kinds.yaml), see the golden
      const found = out.indexOf(line, at);
      assert.ok(found >= 0, `source line ${JSON.stringify(line)} is missing from the injected ${name}.yaml (or out of order)`);
      at = found + 1;
    }
  });
}

test('documents without workloads are byte-identical, including the leading comment block', () => {
  const source = readFixture('inject', 'bookinfo.yaml');
  const before = documentTexts(source);
  const after = documentTexts(injectManifest(source, OPTIONS).text);
  assert.equal(after.length, before.length);
  let identical = 0;
  before.forEach((doc, i) => {
    if (/\nkind: (Service|ServiceAccount)\n/.test(doc) || doc.trim() === '---') {
      assert.equal(after[i], doc, `document ${i + 1} changed`);
      identical++;
    }
  });
  assert.equal(identical, 9); // 4 Services, 4 ServiceAccounts, the empty document after the last ---
});

test('kinds.yaml: opted-out, hostNetwork and foreign-group documents are byte-identical', () => {
  const source = readFixture('inject', 'kinds.yaml');
  const before = documentTexts(source);
  const result = injectManifest(source, OPTIONS, 'kinds.yaml');
  const after = documentTexts(result.text);
  const same = before.map((d, i) => d === after[i]);
  const byName = (n: string): number => before.findIndex((d) => new RegExp(`\\n {2,4}name: ${n}\\b`).test(d));
  for (const n of ['untouched', 'node-agent', 'nightly', 'not-apps']) assert.ok(same[byName(n)], `${n} changed`);
  for (const n of ['web', 'db', 'log-shipper', 'legacy', 'report', 'mesh-migrated', 'in-list']) assert.ok(!same[byName(n)], `${n} was not injected`);
  assert.deepEqual(
    result.workloads.map((w) => `${w.workload} ${w.outcome}`),
    [
      'Pod/shop/web injected',
      'StatefulSet/db injected',
      'DaemonSet/node-agent host-network',
      'DaemonSet/log-shipper injected',
      'ReplicaSet/legacy injected',
      'Job/report injected',
      'CronJob/nightly opted-out',
      'Deployment/mesh-migrated injected',
      'Deployment/shop/in-list injected',
    ],
  );
});

test('re-injection with another image replaces the first injection instead of adding to it', () => {
  const source = readFixture('inject', 'hello.yaml');
  const first = injectManifest(source, { ...OPTIONS, image: 'registry.test/sidelane:old' }).text;
  const again = injectManifest(first, OPTIONS).text;
  assert.equal(again, injectManifest(source, OPTIONS).text);
  assert.ok(!again.includes('registry.test/sidelane:old'));
});

test('opting a previously injected workload out removes the injection', () => {
  const source = readFixture('inject', 'hello.yaml');
  const injected = injectManifest(source, OPTIONS).text;
  const optedOut = injected.replace('      annotations:\n', '      annotations:\n        sidelane.io/inject: "false"\n');
  const out = injectManifest(optedOut, OPTIONS).text;
  assert.ok(!out.includes('sidelane-proxy') && !out.includes('LD_PRELOAD') && !out.includes('sidelane.io/status'), out);
  assert.ok(out.includes('sidelane.io/inject: "false"'));
});

test('a pod injected by Istio (istioctl kube-inject output) is refused, naming the workload', () => {
  assert.throws(
    () => injectManifest(readFixture('inject', 'hello.yaml.injected'), OPTIONS, 'hello.yaml.injected'),
    (err: unknown) =>
      err instanceof InjectionError &&
      err.exitCode === 2 &&
      err.message.startsWith('hello.yaml.injected: Deployment/hello: the pod is already injected by Istio') &&
      err.annotation === 'sidecar.istio.io/status',
  );
});

test('invalid YAML is a config error with the document and line', () => {
  const bad = 'apiVersion: v1\nkind: ConfigMap\n---\nmetadata: {name: [unclosed\n';
  assert.throws(
    () => injectManifest(bad, OPTIONS, 'bad.yaml'),
    (err: unknown) => err instanceof ConfigError && err.exitCode === 2 && /^bad\.yaml: document 2 line \d+ column \d+: invalid YAML/.test(err.message),
  );
});

test('an empty stream and comment-only documents pass through', () => {
  assert.equal(injectManifest('', OPTIONS).text, '');
  const text = '# only a comment\n---\n# another\n';
  assert.equal(injectManifest(text, OPTIONS).text, text);
});

test('anchors and merge keys are read as kubectl reads them (YAML 1.1 merge)', () => {
  const source = [
    'apiVersion: v1',
    'kind: Pod',
    'metadata: {name: merged}',
    'spec:',
    '  containers:',
    '  - &base',
    '    name: a',
    '    image: example.test/a:1',
    '    env: [{name: LD_PRELOAD, value: /lib/x.so}]',
    '  - <<: *base',
    '    name: b',
    '',
  ].join('\n');
  const out = injectManifest(source, OPTIONS).text;
  const pod = parseAllDocuments(out, { merge: true })[0].toJS() as { spec: { containers: { name: string; env: { name: string; value: string }[] }[] } };
  for (const c of pod.spec.containers) {
    assert.equal(c.env.find((e) => e.name === 'LD_PRELOAD')?.value, '/lib/x.so:/var/lib/sidelane/hook/libsidelane_hook.so', c.name);
  }
});
