/** CIDR parsing: canonical text, host bits cleared, and agreement with Node's own BlockList (property). */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatCidr, isCidr, parseCidr } from '../../../src/capture/cidr';

test('examples', () => {
  const cases: [string, string][] = [
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['192.0.2.7', '192.0.2.7/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['2001:DB8:0:0:1::/64', '2001:db8::/64'],
    ['2001:db8::1', '2001:db8::1/128'],
    ['::', '::/128'],
    ['fe80::1:0:0:0:1/10', 'fe80::/10'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1/128'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1/128'], // RFC 5952 section 5: mapped addresses in mixed notation, as inet_ntop prints them
  ];
  for (const [input, want] of cases) {
    const c = parseCidr(input);
    assert.ok(isCidr(c), input);
    assert.equal(formatCidr(c), want);
  }
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.256', '10.0.0.0/08', '1.2.3.4/', 'fe80::1%eth0', ' 10.0.0.0/8', '10.0.0.0/8,']) {
    assert.ok(!isCidr(parseCidr(bad)), bad);
  }
});

test('the network of a parsed CIDR contains the address it was written with (property, against net.BlockList)', () => {
  const v6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));
  const v4 = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }).map((b) => b.join('.'));
  fc.assert(
    fc.property(fc.oneof(v4.map((a) => [a, 4] as const), v6.map((a) => [a, 6] as const)), fc.integer({ min: 0, max: 128 }), ([addr, family], p) => {
      const prefix = family === 4 ? p % 33 : p;
      const c = parseCidr(`${addr}/${prefix}`);
      assert.ok(isCidr(c));
      assert.equal(net.isIP(c.address), family);
      const list = new net.BlockList();
      list.addSubnet(c.address, prefix, family === 4 ? 'ipv4' : 'ipv6');
      assert.ok(list.check(addr, family === 4 ? 'ipv4' : 'ipv6'), `${addr} in ${formatCidr(c)}`);
      const reparsed = parseCidr(formatCidr(c));
      assert.ok(isCidr(reparsed) && formatCidr(reparsed) === formatCidr(c), 'canonical text is a fixed point');
    }),
    { numRuns: 500 },
  );
});
