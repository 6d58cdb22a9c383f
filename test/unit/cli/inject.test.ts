import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { fixturePath, readFixture, repoRoot } from '../../support/golden-file';

const MAIN = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const VERSION = (JSON.parse(readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;

function sidelane(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function withTmp(body: (dir: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'sidelane-inject-'));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const BAD_POD = [
  'apiVersion: v1',
  'kind: Pod',
  'metadata:',
  '  name: p',
  '  namespace: ns',
  '  annotations:',
  '    traffic.sidecar.istio.io/includeInboundPorts: "80,http"',
  'spec:',
  '  containers: [{name: a, image: example.test/a:1}]',
  '',
].join('\n');

test('sidelane inject -f FILE prints the golden injection with the default image of this version', () => {
  const r = sidelane(['inject', '-f', fixturePath('inject', 'hello.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  // The goldens are made with version 0.1.0; the default image follows package.json.
  assert.equal(r.stdout, readFixture('inject', 'hello.golden.yaml').replaceAll('0.1.0', VERSION));
  assert.ok(r.stdout.includes(`image: ghcr.io/sidelane/sidelane:${VERSION}\n`));
});

test('sidelane inject -f - reads stdin; -o FILE writes the file and nothing to stdout', () => {
  const fromStdin = sidelane(['inject', '-f', '-'], readFixture('inject', 'bookinfo.yaml'));
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  withTmp((dir) => {
    const out = path.join(dir, 'out.yaml');
    const r = sidelane(['inject', '-f', fixturePath('inject', 'bookinfo.yaml'), '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(readFileSync(out, 'utf8'), fromStdin.stdout);
  });
});

test('a bad annotation exits 2 with one line naming file, workload and annotation, and writes nothing', () => {
  withTmp((dir) => {
    const input = path.join(dir, 'bad.yaml');
    const out = path.join(dir, 'out.yaml');
    writeFileSync(input, `${readFixture('inject', 'hello.yaml')}---\n${BAD_POD}`);
    const r = sidelane(['inject', '-f', input, '-o', out]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `sidelane: ${input}: Pod/ns/p: annotation traffic.sidecar.istio.io/includeInboundPorts="80,http": expected '*' or a comma-separated list of ports 1-65535 ("http" is not a port)\n`,
    );
    assert.ok(!existsSync(out), 'the output file must not be created on error');
    // The same on stdout: not even the good first document is printed.
    const piped = sidelane(['inject', '-f', '-'], `${readFixture('inject', 'hello.yaml')}---\n${BAD_POD}`);
    assert.equal(piped.code, 2);
    assert.equal(piped.stdout, '');
    assert.match(piped.stderr, /^sidelane: <stdin>: Pod\/ns\/p: annotation traffic\.sidecar\.istio\.io\/includeInboundPorts/);
  });
});

test('--native-sidecar=false puts the proxy among the containers; --image and --config-map are used', () => {
  const r = sidelane(['inject', '-f', fixturePath('inject', 'hello.yaml'), '--native-sidecar=false', '--image', 'registry.test/sl:dev', '--config-map', 'hello-sidelane']);
  assert.equal(r.code, 0, r.stderr);
  const deploy = parseAllDocuments(r.stdout)[0].toJS() as {
    spec: { template: { spec: { containers: { name: string; image: string; args: string[] }[]; initContainers: { name: string }[]; volumes: { name: string; configMap?: { name: string } }[] } } };
  };
  const spec = deploy.spec.template.spec;
  assert.deepEqual(spec.containers.map((c) => c.name), ['hello', 'sidelane-proxy']);
  assert.deepEqual(spec.initContainers.map((c) => c.name), ['sidelane-init']);
  const proxy = spec.containers[1];
  assert.equal(proxy.image, 'registry.test/sl:dev');
  assert.deepEqual(proxy.args.slice(0, 3), ['run', '--config', '/etc/sidelane/config.yaml']);
  assert.deepEqual(spec.volumes.find((v) => v.name === 'sidelane-config')?.configMap, { name: 'hello-sidelane' });
});

test('bad flags are usage errors (exit 2) naming the flag', () => {
  const hello = fixturePath('inject', 'hello.yaml');
  const cases: [string[], RegExp][] = [
    [['inject', '-f', hello, '--native-sidecar', 'maybe'], /^sidelane: --native-sidecar "maybe": expected true or false\n$/],
    [['inject', '-f', hello, '--image', 'not an image'], /^sidelane: --image "not an image": expected an image reference/],
    [['inject', '-f', hello, '--config-map', 'Bad_Name'], /^sidelane: --config-map "Bad_Name": expected a ConfigMap name\n$/],
    [['inject', '-f', '/nonexistent/x.yaml'], /^sidelane: -f\/--filename: cannot read "\/nonexistent\/x\.yaml" \(ENOENT\); expected a manifest file/],
    [['inject'], /required option '-f, --filename <file>' not specified/],
  ];
  for (const [args, re] of cases) {
    const r = sidelane(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stdout, '');
  }
});

test('a hostNetwork workload is reported on stderr and left as it was', () => {
  const r = sidelane(['inject', '-f', fixturePath('inject', 'kinds.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "sidelane: DaemonSet/node-agent: not injected (hostNetwork: true shares the node's network namespace)\n");
});
