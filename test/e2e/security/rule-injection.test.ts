/**
 * Issue 10, security: flag values never reach rule text unparsed, end to end. In a pod with capture installed,
 * `sidelane init` and `cleanup` are run with an injection payload in every flag (long and Istio short forms) and
 * each exits 2 with one line naming the flag, while the namespace — nft ruleset, iptables (both flavours), ip rules
 * and routes, `capture show` — stays byte-identical. A planted state file is refused (exit 1, file named) before
 * anything changes; `sidelane inject` refuses the payloads in annotations, which would become init flags.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { CLI, sidelane, sidelaneOk, snapshot } from '../../support/capture';

/** [flag as typed, long name the error must carry, payload]. Payloads rotate so each kind is tried end to end. */
const CASES: [string, string, string][] = [
  ['--mode', '--mode', 'tproxy\n-A INPUT -j ACCEPT'],
  ['-m', '--mode', 'TPROXY; flush ruleset'],
  ['--outbound', '--outbound', 'hook"; flush ruleset; "'],
  ['--inbound-port', '--inbound-port', '15006 -j ACCEPT'],
  ['-z', '--inbound-port', "15006'"],
  ['--outbound-port', '--outbound-port', '15001}'],
  ['-p', '--outbound-port', '1'.repeat(5000)],
  ['--include-inbound-ports', '--include-inbound-ports', '8080\nCOMMIT\n*filter\n-P INPUT ACCEPT'],
  ['-b', '--include-inbound-ports', '*; flush ruleset'],
  ['--exclude-inbound-ports', '--exclude-inbound-ports', '22 } ; table ip x { chain y { type filter hook input priority 0; policy drop; } }'],
  ['-d', '--exclude-inbound-ports', '22\t-j ACCEPT'],
  ['--include-outbound-cidrs', '--include-outbound-cidrs', '10.0.0.0/8 -j ACCEPT'],
  ['-i', '--include-outbound-cidrs', '10.0.0.0/8,$(id)'],
  ['--exclude-outbound-cidrs', '--exclude-outbound-cidrs', '1.2.3.4/32"; flush ruleset; "'],
  ['-x', '--exclude-outbound-cidrs', `${'1'.repeat(4000)}/8`],
  ['--include-outbound-ports', '--include-outbound-ports', '3306 #'],
  ['-q', '--include-outbound-ports', '3306,`id`'],
  ['--exclude-outbound-ports', '--exclude-outbound-ports', '5432\r\n-A OUTPUT -j ACCEPT'],
  ['-o', '--exclude-outbound-ports', '5432 || true'],
  ['--exclude-interfaces', '--exclude-interfaces', 'eth0" accept; "'],
  ['-c', '--exclude-interfaces', 'eth0 -j ACCEPT'],
  ['--mark', '--mark', '0x539 -j ACCEPT'],
  ['-t', '--mark', '0x539/0x0'],
  ['--bypass-mark', '--bypass-mark', '0x53a; flush ruleset'],
  ['--route-table', '--route-table', '133 lookup main'],
  ['-r', '--route-table', '133\n'],
  ['--proxy-uid', '--proxy-uid', '1337 -j ACCEPT'],
  ['-u', '--proxy-uid', '1337;flush ruleset'],
  ['--proxy-gid', '--proxy-gid', '1337"'],
  ['-g', '--proxy-gid', '\u0001'],
  ['--backend', '--backend', 'nft; id'],
];

/** The namespace as seen by the tools (snapshot) and by sidelane itself (`capture show`). */
async function observe(pod: Pod): Promise<string> {
  const show = await sidelaneOk(pod, ['capture', 'show', '-o', 'json']);
  const view = JSON.parse(show.stdout) as { rules: { packets?: number; bytes?: number }[] };
  const rules = JSON.stringify(view.rules.map((r) => ({ ...r, packets: 0, bytes: 0 })));
  return `${await snapshot(pod)}\n### capture show\n${rules}`;
}

function oneLine(stderr: string): string[] {
  return stderr.trim().split('\n').filter((l) => !/^\(run with --help/.test(l));
}

test('injection payloads in every init/cleanup flag exit 2 and leave an installed namespace byte-identical', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'secinj', ipv6: true }, async (lab) => {
    try {
      const pod = await lab.addPod('pod');
      const pristine = await snapshot(pod);
      for (const backend of ['nft', 'iptables-nft']) {
        await sidelaneOk(pod, ['init', '--backend', backend, '-u', '1337', '-c', 'eth9']);
        const installed = await observe(pod);
        // iptables is not reached by the validation at all, so one pass of every flag (nft) and a sample on iptables.
        const cases = backend === 'nft' ? CASES : CASES.filter((_, i) => i % 5 === 0);
        for (const [flag, long, payload] of cases) {
          for (const command of ['init', 'cleanup']) {
            if (command === 'cleanup' && backend === 'iptables-nft') continue;
            const r = await sidelane(pod, [command, '--backend', backend, flag, payload]);
            const shown = JSON.stringify(payload.slice(0, 40));
            assert.equal(r.code, 2, `${command} ${flag} ${shown}: expected exit 2, got ${r.code}: ${r.stderr.slice(0, 300)}`);
            const lines = oneLine(r.stderr);
            assert.equal(lines.length, 1, `${command} ${flag} ${shown}: one line on stderr, got ${JSON.stringify(r.stderr.slice(0, 300))}`);
            assert.ok(lines[0]!.includes(long), `${command} ${flag} ${shown}: the error names ${long}: ${lines[0]}`);
            assert.ok(lines[0]!.length < 400, `a bounded message (${lines[0]!.length} characters)`);
          }
        }
        assert.equal(await observe(pod), installed, `${backend}: nothing changed`);
        await sidelaneOk(pod, ['cleanup']);
      }
      assert.equal(await snapshot(pod), pristine, 'cleanup restored the namespace');
    } finally {
      rmSync(`/run/sidelane-test/${lab.id}`, { recursive: true, force: true });
    }
  });
});

test('a planted state file is refused before anything changes; the genuine one then cleans up', { timeout: 60_000 }, async (t) => {
  await withLab(t, { prefix: 'secst', ipv6: true }, async (lab) => {
    const dir = `/run/sidelane-test/${lab.id}`;
    try {
      const pod = await lab.addPod('pod');
      const pristine = await snapshot(pod);
      await sidelaneOk(pod, ['init', '--backend', 'iptables-nft']);
      const installed = await observe(pod);
      mkdirSync(dir, { recursive: true });
      const [file] = readdirSync(dir).filter((f) => f.endsWith('.json'));
      assert.ok(file, `init wrote a state file in ${dir}`);
      const genuine = readFileSync(path.join(dir, file), 'utf8');
      const record = JSON.parse(genuine) as { createdNftObjects: { family: string; table: string; chain?: string }[] };
      writeFileSync(path.join(dir, file), JSON.stringify({ ...record, createdNftObjects: [{ family: 'ip', table: 'mangle', chain: 'PREROUTING; delete table inet user' }] }));
      for (const command of ['cleanup', 'init']) {
        const r = await sidelane(pod, [command, '--backend', 'iptables-nft']);
        assert.equal(r.code, 1, `${command} with a planted state file: expected exit 1, got ${r.code}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`the capture state file ${path.join(dir, file).replace(/[[\]./]/g, '\\$&')} is not a record sidelane wrote \\(createdNftObjects\\[0\\]\\.chain: expected a plain nft identifier\\); nothing was changed`));
        assert.equal(await observe(pod), installed, `${command}: nothing changed`);
      }
      writeFileSync(path.join(dir, file), genuine);
      await sidelaneOk(pod, ['cleanup']);
      assert.equal(await snapshot(pod), pristine);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('sidelane inject refuses injection payloads in the annotations that become init flags (exit 2, annotation named)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sidelane-inject-sec-'));
  try {
    const cases: [string, string][] = [
      ['traffic.sidecar.istio.io/excludeInboundPorts', '22\n-A INPUT -j ACCEPT'],
      ['traffic.sidecar.istio.io/excludeOutboundIPRanges', '10.0.0.0/8 -j ACCEPT'],
      ['traffic.sidecar.istio.io/excludeInterfaces', 'eth0"; flush ruleset; "'],
      ['traffic.sidecar.istio.io/excludeInterfaces', 'eth0:1'],
      ['traffic.sidecar.istio.io/includeInboundPorts', '*; id'],
      ['sidecar.istio.io/interceptionMode', 'TPROXY --no-notrack'],
      ['traffic.sidecar.istio.io/excludeOutboundPorts', `5432${'9'.repeat(5000)}`],
    ];
    for (const [annotation, value] of cases) {
      const file = path.join(dir, 'pod.yaml');
      writeFileSync(
        file,
        `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: ns\n  annotations:\n    ${annotation}: ${JSON.stringify(value)}\nspec:\n  containers: [{name: a, image: example.test/a:1}]\n`,
      );
      const r = spawnSync(process.execPath, [CLI, 'inject', '-f', file], { encoding: 'utf8' });
      assert.equal(r.status, 2, `${annotation}=${JSON.stringify(value)}: expected exit 2, got ${r.status}: ${r.stderr}`);
      assert.equal(r.stdout, '', 'nothing injected');
      assert.ok(r.stderr.includes(annotation), `the error names ${annotation}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${JSON.stringify(r.stderr)}`);
      assert.ok(r.stderr.length < 600, `a bounded message (${r.stderr.length} characters)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
