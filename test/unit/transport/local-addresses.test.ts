/** LocalAddresses: the pod's own addresses, re-read on a miss at most once per interval; loopback is always local. */
import assert from 'node:assert/strict';
import type os from 'node:os';
import { test } from 'node:test';
import { LocalAddresses, REFRESH_INTERVAL_MS } from '../../../src/transport/local-addresses';

function iface(address: string): os.NetworkInterfaceInfo {
  const v6 = address.includes(':');
  return { address, netmask: v6 ? 'ffff:ffff:ffff:ffff::' : '255.255.0.0', family: v6 ? 'IPv6' : 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: null, ...(v6 ? { scopeid: 0 } : {}) } as os.NetworkInterfaceInfo;
}

function lab(initial: string[]): { local: LocalAddresses; eth0: os.NetworkInterfaceInfo[]; calls: () => number; advance: (ms: number) => void } {
  let t = 0;
  let calls = 0;
  const eth0 = initial.map(iface);
  const local = new LocalAddresses(
    () => {
      calls++;
      return { lo: [iface('127.0.0.1'), iface('::1')], eth0 };
    },
    () => t,
  );
  return { local, eth0, calls: () => calls, advance: (ms) => (t += ms) };
}

test('an address on an interface is local; v4-mapped forms compare equal; a foreign address is not', () => {
  const { local } = lab(['198.18.0.10', '2001:db8::a']);
  assert.equal(local.has('198.18.0.10'), true);
  assert.equal(local.has('::ffff:198.18.0.10'), true);
  assert.equal(local.has('2001:db8::a'), true);
  assert.equal(local.has('198.18.0.12'), false);
  assert.equal(local.has('2001:db8::c'), false);
});

test('all of 127.0.0.0/8 and ::1 are local without a lookup', () => {
  const { local, calls, advance } = lab([]);
  advance(REFRESH_INTERVAL_MS * 10);
  const before = calls();
  assert.equal(local.has('127.0.0.6'), true);
  assert.equal(local.has('127.200.3.4'), true);
  assert.equal(local.has('::1'), true);
  assert.equal(calls(), before);
});

test('an address added after start-up is seen on the first miss after the refresh interval', () => {
  const { local, eth0, advance } = lab(['198.18.0.10']);
  eth0.push(iface('2001:db8::a'));
  assert.equal(local.has('2001:db8::a'), false, 'within the interval of the last read: not yet');
  advance(REFRESH_INTERVAL_MS);
  assert.equal(local.has('2001:db8::a'), true);
});

test('a flood of misses re-reads the interfaces at most once per interval', () => {
  const { local, calls, advance } = lab(['198.18.0.10']);
  advance(REFRESH_INTERVAL_MS);
  const before = calls();
  for (let i = 0; i < 10_000; i++) local.has(`198.19.${i >> 8}.${i & 255}`);
  assert.equal(calls() - before, 1);
  advance(REFRESH_INTERVAL_MS);
  for (let i = 0; i < 100; i++) local.has('198.19.9.9');
  assert.equal(calls() - before, 2);
});
