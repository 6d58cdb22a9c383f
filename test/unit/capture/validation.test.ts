/**
 * Flag validation: a table of good values and what they become, and of bad values and the one line they produce.
 * Anything that could smuggle rule syntax into a payload (spaces, quotes, newlines, options) is rejected.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { UsageError } from '../../../src/errors';
import { formatCidr, type Cidr } from '../../../src/capture/cidr';
import { buildPlan, describeIptablesPlan, describeNftPlan } from '../../../src/capture/build';
import { captureOptionsFromFlags, type CaptureFlags } from '../../../src/capture/validation';
import { PortSet } from '../../../src/capture/port-set';
import { environment } from './scenarios';

const GOOD: [CaptureFlags, (o: ReturnType<typeof captureOptionsFromFlags>) => unknown, unknown][] = [
  [{}, (o) => [o.mode, o.outbound, o.inboundPort, o.outboundPort, o.mark, o.bypassMark, o.routeTable, o.backend], ['tproxy', 'hook+tproxy', 15006, 15001, 0x539, 0x53a, 133, 'auto']],
  [{ mode: 'TPROXY' }, (o) => o.mode, 'tproxy'],
  [{ mode: 'REDIRECT' }, (o) => o.mode, 'redirect'],
  [{ includeInboundPorts: '*' }, (o) => o.includeInboundPorts, '*'],
  [{ includeInboundPorts: '' }, (o) => (o.includeInboundPorts as PortSet).isEmpty, true],
  [{ includeInboundPorts: ' 9000-9010, 80 ,8080:8081' }, (o) => String(o.includeInboundPorts), '80,8080-8081,9000-9010'],
  [{ excludeInboundPorts: '22,22,23' }, (o) => o.excludeInboundPorts.toString(), '22-23'],
  [{ includeOutboundCidrs: '10.1.2.3/8,2001:DB8::1/32,192.0.2.1' }, (o) => (o.includeOutboundCidrs as Cidr[]).map(formatCidr), ['10.0.0.0/8', '2001:db8::/32', '192.0.2.1/32']],
  [{ excludeOutboundCidrs: '::ffff:10.0.0.1/104' }, (o) => o.excludeOutboundCidrs.map(formatCidr), ['::ffff:10.0.0.0/104']],
  [{ excludeOutboundCidrs: '' }, (o) => o.excludeOutboundCidrs, []],
  [{ mark: '4096', bypassMark: '0xFFFFFFFF' }, (o) => [o.mark, o.bypassMark], [4096, 0xffffffff]],
  [{ routeTable: '4294967295' }, (o) => o.routeTable, 4294967295],
  [{ excludeInterfaces: 'eth0,veth+,br-1.100,eth0' }, (o) => o.excludeInterfaces, ['eth0', 'veth+', 'br-1.100']],
  [{ proxyUid: '0,1337,1337', proxyGid: '' }, (o) => [o.proxyUids, o.proxyGids], [[0, 1337], []]],
  [{ preserveSource: false, notrack: false, ipv6: true }, (o) => [o.preserveSource, o.notrack, o.ipv6], [false, false, true]],
  [{ backend: 'iptables-legacy' }, (o) => o.backend, 'iptables-legacy'],
];

for (const [flags, pick, want] of GOOD) {
  test(`accepts ${JSON.stringify(flags)}`, () => {
    assert.deepEqual(pick(captureOptionsFromFlags(flags)), want);
  });
}

const BAD: [CaptureFlags, RegExp][] = [
  [{ inboundPort: '0' }, /^--inbound-port: expected a port number 1-65535, got '0'$/],
  [{ outboundPort: '65536' }, /^--outbound-port: expected a port number 1-65535, got '65536'$/],
  [{ inboundPort: '015006' }, /^--inbound-port: expected a port number/],
  [{ inboundPort: ' 15006' }, /^--inbound-port: expected a port number/],
  [{ includeInboundPorts: '*,80' }, /^--include-inbound-ports: expected '\*' or a comma-separated list of ports/],
  [{ excludeInboundPorts: '*' }, /^--exclude-inbound-ports: expected a comma-separated list of ports 1-65535 or ranges \(e\.g\. 22,8000-8100\), got '\*'$/],
  [{ excludeInboundPorts: '22,' }, /^--exclude-inbound-ports: expected/],
  [{ excludeInboundPorts: '90-80' }, /^--exclude-inbound-ports: expected/],
  [{ excludeInboundPorts: '22 -j ACCEPT' }, /^--exclude-inbound-ports: expected .*, got '22 -j ACCEPT'$/],
  [{ excludeOutboundPorts: '5432\nCOMMIT' }, /^--exclude-outbound-ports: expected .*got '5432\\x0aCOMMIT'$/],
  [{ includeOutboundPorts: '0' }, /^--include-outbound-ports: expected/],
  [{ includeOutboundCidrs: '10.0.0.0/33' }, /^--include-outbound-cidrs: expected '\*' or a comma-separated list of a prefix length 0-32 for an IPv4 address, got '10.0.0.0\/33'$/],
  [{ includeOutboundCidrs: '10.0.0/8' }, /^--include-outbound-cidrs: expected/],
  [{ excludeOutboundCidrs: '*' }, /^--exclude-outbound-cidrs: expected a comma-separated list of an IPv4 or IPv6 address/],
  [{ excludeOutboundCidrs: '10.0.0.0/8 -j DROP' }, /^--exclude-outbound-cidrs: expected/],
  [{ excludeOutboundCidrs: '2001:db8::/129' }, /prefix length 0-128 for an IPv6 address/],
  [{ excludeOutboundCidrs: 'example.com' }, /^--exclude-outbound-cidrs: expected/],
  [{ excludeInterfaces: 'eth0 -j ACCEPT' }, /^--exclude-interfaces: expected a comma-separated list of interface names/],
  [{ excludeInterfaces: 'eth"0' }, /^--exclude-interfaces: expected/],
  [{ excludeInterfaces: 'abcdefghijklmnop' }, /^--exclude-interfaces: expected/],
  [{ excludeInterfaces: 'eth+0' }, /^--exclude-interfaces: expected/],
  [{ excludeInterfaces: '..' }, /^--exclude-interfaces: expected/],
  [{ mark: '0' }, /^--mark: expected a non-zero 32-bit mark \(decimal or 0x-hex\), got '0'$/],
  [{ mark: '0x100000000' }, /^--mark: expected a non-zero 32-bit mark/],
  [{ bypassMark: '1337/0xff' }, /^--bypass-mark: expected/],
  [{ mark: '0x53a' }, /^--mark and --bypass-mark: expected two different marks, got 0x53a for both$/],
  [{ routeTable: '0' }, /^--route-table: expected a routing table number/],
  [{ routeTable: '255' }, /other than 253 \(default\), 254 \(main\) and 255 \(local\), got '255'$/],
  [{ routeTable: 'main' }, /^--route-table: expected/],
  [{ proxyUid: 'istio-proxy' }, /^--proxy-uid: expected a comma-separated list of numeric user ids 0-4294967294, got 'istio-proxy'$/],
  [{ proxyGid: '4294967295' }, /^--proxy-gid: expected a comma-separated list of numeric group ids/],
  [{ mode: 'nat' }, /^--mode: expected one of tproxy, redirect, got 'nat'$/],
  [{ outbound: 'Hook' }, /^--outbound: expected one of hook\+tproxy, hook, tproxy, none, got 'Hook'$/],
  [{ backend: 'auto ' }, /^--backend: expected one of auto, nft, iptables, iptables-legacy, iptables-nft/],
  [{ inboundPort: '15001' }, /^--inbound-port and --outbound-port: expected two different ports, got 15001 for both$/],
];

for (const [flags, message] of BAD) {
  test(`rejects ${JSON.stringify(flags)}`, () => {
    assert.throws(
      () => captureOptionsFromFlags(flags),
      (err: unknown) => {
        assert.ok(err instanceof UsageError, 'a usage error (exit 2)');
        assert.equal(err.exitCode, 2);
        assert.ok(!err.message.includes('\n'), 'one line');
        assert.match(err.message, message);
        return true;
      },
    );
  });
}

test('no accepted flag value can carry rule syntax into a payload (property)', () => {
  // Arbitrary strings: either rejected, or the rendered rules contain no character outside what rules use.
  const flagNames: (keyof CaptureFlags)[] = ['excludeInboundPorts', 'includeOutboundCidrs', 'excludeOutboundCidrs', 'excludeInterfaces', 'proxyUid', 'mark', 'routeTable'];
  fc.assert(
    fc.property(fc.constantFrom(...flagNames), fc.string({ maxLength: 40 }), (flag, value) => {
      let options;
      try {
        options = captureOptionsFromFlags({ [flag]: value });
      } catch (err) {
        assert.ok(err instanceof UsageError);
        return;
      }
      const plan = buildPlan(options, environment(true));
      for (const line of (describeIptablesPlan(plan, 4) + describeIptablesPlan(plan, 6)).split('\n')) {
        if (line === '') continue;
        assert.match(line, /^(# .*|\*(raw|mangle|nat)|:SIDELANE_[A-Z_]+ - \[0:0\]|-A [A-Z_]+ .*|COMMIT|EOF|ip6?tables-restore --noflush <<'EOF'|ip -[46] [a-z0-9 :./]+)$/);
        // Outside the fixed comment texts, nothing that could quote, chain or escape.
        if (!line.endsWith("<<'EOF'")) assert.doesNotMatch(line.replace(/--comment "[^"]*"/g, ''), /["';`$\\\n]/, line);
      }
      for (const line of describeNftPlan(plan).split('\n')) {
        const bare = line.replace(/comment "[^"]*"/g, '').replace(/"[A-Za-z0-9_.-]{1,15}\*?"/g, '').replace(/<<'EOF'$/, '');
        assert.doesNotMatch(bare, /["'`$\\]/, `unexpected quoting in ${line}`);
        if (bare.includes(';')) assert.match(line, /^\t\ttype (filter|route|nat) hook \w+ priority [-\w]+; policy accept;$/);
      }
    }),
    { numRuns: 300 },
  );
});

test('port sets merge, subtract and intersect like sets (property)', () => {
  const port = fc.integer({ min: 1, max: 200 });
  const ranges = fc.array(fc.tuple(port, port).map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) })), { maxLength: 6 });
  fc.assert(
    fc.property(ranges, ranges, fc.integer({ min: 1, max: 200 }), (ra, rb, p) => {
      const a = PortSet.of(ra);
      const b = PortSet.of(rb);
      assert.equal(a.union(b).has(p), a.has(p) || b.has(p));
      assert.equal(a.minus(b).has(p), a.has(p) && !b.has(p));
      assert.equal(a.intersect(b).has(p), a.has(p) && b.has(p));
      // Canonical: sorted, disjoint, non-adjacent.
      for (let i = 1; i < a.ranges.length; i++) assert.ok(a.ranges[i]!.from > a.ranges[i - 1]!.to + 1);
    }),
  );
});
