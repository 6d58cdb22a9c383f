/** LocalAddresses: the pod's own addresses, re-read on a miss; loopback is always local. */
import assert from 'node:assert/strict';
import type os from 'node:os';
import { test } from 'node:test';
import { LocalAddresses } from '../../../src/transport/local-addresses';

function iface(address: string): os.NetworkInterfaceInfo {
  const v6 = address.includes(':');
  return { address, netmask: v6 ? 'ffff:ffff:ffff:ffff::' : '255.255.0.0', family: v6 ? 'IPv6' : 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: null, ...(v6 ? { scopeid: 0 } : {}) } as os.NetworkInterfaceInfo;
}

test('an address on an interface is local; v4-mapped forms compare equal; a foreign address is not', () => {
  let calls = 0;
  const local = new LocalAddresses(() => {
    calls++;
    return { lo: [iface('127.0.0.1'), iface('::1')], eth0: [iface('198.18.0.10'), iface('2001:db8::a')] };
  });
  assert.equal(local.has('198.18.0.10'), true);
  assert.equal(local.has('::ffff:198.18.0.10'), true);
  assert.equal(local.has('2001:db8::a'), true);
  const before = calls;
  assert.equal(local.has('198.18.0.12'), false);
  assert.equal(local.has('2001:db8::c'), false);
  assert.equal(calls, before + 2, 'each miss re-reads the interfaces');
});

test('all of 127.0.0.0/8 and ::1 are local without a lookup', () => {
  let calls = 0;
  const local = new LocalAddresses(() => {
    calls++;
    return { lo: [iface('127.0.0.1')] };
  });
  const before = calls;
  assert.equal(local.has('127.0.0.6'), true);
  assert.equal(local.has('127.200.3.4'), true);
  assert.equal(local.has('::1'), true);
  assert.equal(calls, before);
});

test('an address added after start-up is seen at once (the miss refreshes)', () => {
  const eth0 = [iface('198.18.0.10')];
  const local = new LocalAddresses(() => ({ eth0 }));
  assert.equal(local.has('2001:db8::a'), false);
  eth0.push(iface('2001:db8::a'));
  assert.equal(local.has('2001:db8::a'), true);
});
