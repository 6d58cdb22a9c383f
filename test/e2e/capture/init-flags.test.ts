/**
 * `sidelane init` flags end to end: every --outbound choice and the Istio-style short flags round-trip cleanly,
 * --dry-run and rejected flags change nothing (exit 2, one line naming flag and value), and a re-run with other
 * flags or another backend converges on the new install only.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { withLab } from '../../support/netns';
import { CLI, roundTrip, sidelane, sidelaneOk, snapshot } from '../../support/capture';

test('init/cleanup round trip for every --outbound choice and the Istio-style flags; --hook-dir copies the hook', async (t) => {
  await withLab(t, { prefix: 'caprt' }, async (lab) => {
    try {
      await roundTrip(lab, 'hook', 'nft', ['--outbound', 'hook', '--ipv6']);
      await roundTrip(lab, 'none', 'iptables-nft', ['--outbound', 'none', '--ipv6']);
      await roundTrip(lab, 'istio', 'iptables-nft', ['-m', 'TPROXY', '-u', '1337', '-g', '1337', '-b', '8080,9000-9100', '-d', '22', '-i', '198.19.0.0/16,2001:db8:1::/48', '-x', '198.19.9.0/24', '-o', '5432', '-q', '3306', '-c', 'eth9,veth+', '--ipv6']);
      await roundTrip(lab, 'marks', 'nft', ['--mark', '0x1000', '--bypass-mark', '4097', '--route-table', '200', '--no-preserve-source', '--no-notrack', '--ipv6']);

      // --hook-dir copies the hook library (what the Kubernetes init container does for the app containers).
      const dir = mkdtempSync(path.join(os.tmpdir(), 'sidelane-hookdir-'));
      try {
        const pod = lab.pods[0]!;
        await sidelaneOk(pod, ['init', '--outbound', 'hook', '--hook-dir', path.join(dir, 'lib')]);
        const copied = path.join(dir, 'lib', 'libsidelane_hook.so');
        assert.deepEqual(readFileSync(copied), readFileSync(path.join(path.dirname(CLI), '../../../build/Release/libsidelane_hook.so')));
        assert.equal(statSync(copied).mode & 0o777, 0o755);
        await sidelaneOk(pod, ['cleanup']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } finally {
      rmSync(`/run/sidelane-test/${lab.id}`, { recursive: true, force: true });
    }
  });
});

test('--dry-run and a rejected flag change nothing; every bad value exits 2 with one line naming flag and value', async (t) => {
  await withLab(t, { prefix: 'capbad' }, async (lab) => {
    try {
      const pod = await lab.addPod('pod');
      const before = await snapshot(pod);
      const dry = await sidelaneOk(pod, ['init', '--dry-run', '--backend', 'iptables-nft', '--ipv6']);
      assert.match(dry.stdout, /nothing was changed/);
      assert.match(dry.stdout, /iptables-nft-restore --noflush <<'EOF'/);
      assert.match(dry.stdout, /ip6tables-nft-restore --noflush/);
      assert.match(dry.stdout, /ip -6 rule add fwmark 0x539 lookup 133 proto 83/);
      const dryNft = await sidelaneOk(pod, ['init', '-n']);
      assert.match(dryNft.stdout, /table inet sidelane \{/);
      const cases: [string[], RegExp][] = [
        [['--inbound-port', '0'], /--inbound-port: expected a port number 1-65535, got '0'/],
        [['-z', '70000'], /--inbound-port: expected a port number/],
        [['--exclude-inbound-ports', '22 -j ACCEPT'], /--exclude-inbound-ports: expected a comma-separated list of ports/],
        [['-d', '22\n-A INPUT -j DROP'], /--exclude-inbound-ports: .*got '22\\x0a-A INPUT -j DROP'/],
        [['--include-outbound-cidrs', '10.0.0.0/33'], /--include-outbound-cidrs: expected .*prefix length 0-32/],
        [['-x', '1.2.3.4/32"; flush ruleset; "'], /--exclude-outbound-cidrs: expected/],
        [['--exclude-interfaces', 'eth0"; flush ruleset'], /--exclude-interfaces: expected a comma-separated list of interface names/],
        [['-c', 'averyveryverylongname0'], /--exclude-interfaces: expected/],
        [['--mark', '0'], /--mark: expected a non-zero 32-bit mark/],
        [['--bypass-mark', '0x1ffffffff'], /--bypass-mark: expected a non-zero 32-bit mark/],
        [['--mark', '0x53a'], /--mark and --bypass-mark: expected two different marks/],
        [['--route-table', '254'], /--route-table: expected a routing table number .* other than 253 \(default\), 254 \(main\)/],
        [['-u', 'istio-proxy'], /--proxy-uid: expected a comma-separated list of numeric user ids/],
        [['-g', '-1'], /--proxy-gid: expected|error: option/],
        [['--mode', 'nat'], /--mode: expected one of tproxy, redirect, got 'nat'/],
        [['--outbound', 'all'], /--outbound: expected one of hook\+tproxy, hook, tproxy, none/],
        [['--backend', 'ebpf'], /--backend: expected one of auto, nft, iptables, iptables-legacy, iptables-nft/],
        [['-p', '15006'], /--inbound-port and --outbound-port: expected two different ports/],
        [['--include-inbound-ports', '*,22'], /--include-inbound-ports: expected '\*' or a comma-separated list/],
        [['--hook-dir', ''], /--hook-dir: expected a directory path/],
      ];
      for (const [args, expected] of cases) {
        const r = await sidelane(pod, ['init', ...args]);
        assert.equal(r.code, 2, `init ${JSON.stringify(args)} must exit 2, got ${r.code}: ${r.stderr}`);
        const lines = r.stderr.trim().split('\n').filter((l) => !/^\(run with --help/.test(l));
        assert.equal(lines.length, 1, `one line on stderr for ${JSON.stringify(args)}: ${r.stderr}`);
        assert.match(lines[0]!, expected);
      }
      const badCleanup = await sidelane(pod, ['cleanup', '--route-table', 'main']);
      assert.equal(badCleanup.code, 2);
      assert.equal(await snapshot(pod), before, 'nothing changed');
    } finally {
      rmSync(`/run/sidelane-test/${lab.id}`, { recursive: true, force: true });
    }
  });
});

test('a re-run with other flags or another backend converges on the new install only', async (t) => {
  await withLab(t, { prefix: 'capconv' }, async (lab) => {
    try {
      const pod = await lab.addPod('pod');
      const before = await snapshot(pod);
      await sidelaneOk(pod, ['init', '--backend', 'iptables-nft', '--ipv6']);
      await sidelaneOk(pod, ['init', '--backend', 'iptables-nft', '--mode', 'redirect', '--ipv6', '--route-table', '150']);
      type View = { rules: { table: string; chain: string; backend: string }[]; routes: string[] };
      let view = JSON.parse((await sidelaneOk(pod, ['capture', 'show', '-o', 'json'])).stdout) as View;
      assert.ok(view.rules.every((r) => r.table === 'nat'), `only the redirect rules remain: ${JSON.stringify(view.rules.map((r) => `${r.table}/${r.chain}`))}`);
      assert.deepEqual(view.routes, [], 'redirect mode needs no policy routes: the tproxy ones are gone');
      await sidelaneOk(pod, ['init', '--backend', 'nft', '--mark', '0x77']);
      view = JSON.parse((await sidelaneOk(pod, ['capture', 'show', '-o', 'json'])).stdout) as View;
      assert.ok(view.rules.every((r) => r.backend === 'nft'), 'the iptables install is gone after switching to nft');
      // IPv6 is on without --ipv6: the pod has a global IPv6 address (auto).
      assert.deepEqual(view.routes, [
        'ip -4 rule: fwmark 0x77 lookup 133',
        'ip -4 route: local default dev lo table 133',
        'ip -6 rule: fwmark 0x77 lookup 133',
        'ip -6 route: local default dev lo table 133',
      ]);
      // Auto follows the existing install.
      const auto = await sidelaneOk(pod, ['init', '--mark', '0x77']);
      assert.match(auto.stdout, /with nft \(auto: sidelane is installed in table inet sidelane\)/);
      await sidelaneOk(pod, ['cleanup']);
      assert.equal(await snapshot(pod), before);
    } finally {
      rmSync(`/run/sidelane-test/${lab.id}`, { recursive: true, force: true });
    }
  });
});
