import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipToOctets, octetsToIp } from '../../../src/transport/ip-octets';

test('IPv4 and IPv6 text to bytes', () => {
  assert.deepEqual([...(ipToOctets('198.18.9.9') ?? [])], [198, 18, 9, 9]);
  assert.deepEqual([...(ipToOctets('::1') ?? [])], [...new Array(15).fill(0), 1]);
  assert.deepEqual([...(ipToOctets('2001:DB8::9') ?? [])], [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 9]);
  assert.deepEqual([...(ipToOctets('::ffff:127.0.0.1') ?? [])], [...new Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1]);
  assert.deepEqual([...(ipToOctets('1:2:3:4:5:6:7:8') ?? [])], [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
  for (const bad of ['', 'localhost', '1.2.3', '256.1.1.1', 'fe80::1%eth0', '1::2::3']) assert.equal(ipToOctets(bad), undefined, bad);
});

test('bytes to RFC 5952 text', () => {
  const round = (s: string): string => octetsToIp(ipToOctets(s)!);
  assert.equal(round('2001:0db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1'); // the first of two equal runs
  assert.equal(round('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1'); // one zero group stays
  assert.equal(round('0:0:0:0:0:0:0:0'), '::');
  assert.equal(round('0:0:0:0:0:0:0:1'), '::1');
  assert.equal(round('1:0:0:0:0:0:0:0'), '1::');
  assert.equal(round('2001:db8:0:0:0:0:2:1'), '2001:db8::2:1');
  assert.equal(round('::FFFF:10.1.2.3'), '::ffff:10.1.2.3');
  assert.equal(round('10.1.2.3'), '10.1.2.3');
  assert.throws(() => octetsToIp(new Uint8Array(5)), /4 or 16 bytes/);
});
