import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { UsageError } from '../../../src/errors';
import { hookLibraryPath } from '../../../src/cli/commands/hook-path';
import {
  hookEnvironment,
  parseCidrList,
  parseIncludeCidrs,
  parsePort,
  parsePortList,
  parseProxyDownPolicy,
  withPreload,
} from '../../../src/hook/environment';

test('renders only the settings given, in the hook grammar', () => {
  assert.deepEqual(hookEnvironment({}), {});
  assert.deepEqual(
    hookEnvironment({
      outboundPort: 16001,
      excludeCidrs: ['10.0.0.0/8', 'fd00::/8'],
      excludePorts: ['22', '8000-8100'],
      includeCidrs: '*',
      proxyPorts: ['15000'],
      onProxyDown: { kind: 'wait', ms: 250 },
      log: true,
    }),
    {
      SIDELANE_OUTBOUND_PORT: '16001',
      SIDELANE_EXCLUDE_CIDRS: '10.0.0.0/8,fd00::/8',
      SIDELANE_EXCLUDE_PORTS: '22,8000-8100',
      SIDELANE_INCLUDE_CIDRS: '*',
      SIDELANE_PROXY_PORTS: '15000',
      SIDELANE_HOOK_ON_PROXY_DOWN: 'wait:250',
      SIDELANE_HOOK_LOG: '1',
    },
  );
  assert.equal(hookEnvironment({ onProxyDown: { kind: 'closed' } }).SIDELANE_HOOK_ON_PROXY_DOWN, 'closed');
});

test('LD_PRELOAD: the hook is appended to what is there, never twice', () => {
  assert.equal(withPreload(undefined, '/h.so'), '/h.so');
  assert.equal(withPreload('', '/h.so'), '/h.so');
  assert.equal(withPreload('/a.so /b.so', '/h.so'), '/a.so:/b.so:/h.so');
  assert.equal(withPreload('/a.so:/h.so', '/h.so'), '/a.so:/h.so');
});

test('parsers accept the documented forms and normalise blanks', () => {
  assert.equal(parsePort(' 15001 ', 'f'), 15001);
  assert.deepEqual(parsePortList('22, 8000 - 8100,,', 'f'), ['22', '8000-8100']);
  assert.deepEqual(parseCidrList(' 10.0.0.0/8 , 2001:db8::/32,198.18.0.1', 'f'), ['10.0.0.0/8', '2001:db8::/32', '198.18.0.1']);
  assert.equal(parseIncludeCidrs('*', 'f'), '*');
  assert.equal(parseIncludeCidrs('', 'f'), '*');
  assert.deepEqual(parseProxyDownPolicy('wait:0', 'f'), { kind: 'wait', ms: 0 });
  assert.deepEqual(parseProxyDownPolicy('wait', 'f'), { kind: 'wait', ms: 5000 });
  assert.deepEqual(parseProxyDownPolicy('open', 'f'), { kind: 'open' });
});

test('parsers reject bad values with a UsageError naming the flag and what was expected', () => {
  const bad = (fn: () => unknown, re: RegExp): void =>
    assert.throws(fn, (e: unknown) => e instanceof UsageError && e.exitCode === 2 && re.test(e.message));
  bad(() => parsePort('0', '--outbound-port'), /--outbound-port: expected a port 1-65535, got "0"/);
  bad(() => parsePort('65536', '--outbound-port'), /port 1-65535/);
  bad(() => parsePort('+80', '--outbound-port'), /port 1-65535/);
  bad(() => parsePortList('80,http', '--exclude-ports'), /--exclude-ports: "http" is not a port/);
  bad(() => parsePortList('9-3', '--exclude-ports'), /"9-3"/);
  bad(() => parsePortList('1-2-3', '--exclude-ports'), /"1-2-3"/);
  bad(() => parseCidrList('10.0.0.0/33', '--exclude-cidrs'), /"10.0.0.0\/33" is not a CIDR/);
  bad(() => parseCidrList('10.0.0/8', '--exclude-cidrs'), /is not a CIDR/);
  bad(() => parseCidrList('fe80::1%eth0/64', '--exclude-cidrs'), /is not a CIDR/);
  bad(() => parseCidrList(Array.from({ length: 65 }, (_, i) => `10.0.${i}.0/24`).join(','), '--exclude-cidrs'), /at most 64/);
  bad(() => parseProxyDownPolicy('wait:600001', '--on-proxy-down'), /wait:<ms> \(0-600000\), open or closed/);
  bad(() => parseProxyDownPolicy('fail', '--on-proxy-down'), /got "fail"/);
});

/**
 * The TypeScript validator and the C hook must draw the same line. Load the real hook into `true` with each value:
 * the hook says "the hook is disabled" exactly when it rejects the value.
 */
test('the C hook accepts and rejects exactly what the TypeScript validators do', () => {
  const cases: Array<[string, string, () => unknown]> = [];
  const add = (variable: string, parse: (v: string) => unknown, values: string[]): void => {
    for (const v of values) cases.push([variable, v, () => parse(v)]);
  };
  add('SIDELANE_OUTBOUND_PORT', (v) => parsePort(v, 'x'), ['1', '15001', '65535', ' 80 ', '0', '65536', '-1', '8o', '1e3']);
  add('SIDELANE_EXCLUDE_PORTS', (v) => parsePortList(v, 'x'), ['22', '22,80', '1-65535', '8000 - 8100', ',,', '0', '5-3', 'x', '1-', '-1', '1-2-3']);
  add('SIDELANE_EXCLUDE_CIDRS', (v) => parseCidrList(v, 'x'), [
    '10.0.0.0/8', '10.1.2.3', '2001:db8::/32', '::ffff:10.0.0.0/104', '0.0.0.0/0', '::/0', '10.0.0.0/33', '::/129',
    '10.0.0/8', '10.0.0.0/', 'host/8', '1.2.3.4/8/9', Array.from({ length: 64 }, (_, i) => `10.${i}.0.0/16`).join(','),
    Array.from({ length: 65 }, (_, i) => `10.${i}.0.0/16`).join(','),
  ]);
  add('SIDELANE_INCLUDE_CIDRS', (v) => parseIncludeCidrs(v, 'x'), ['*', '', '198.19.0.0/16', '*,10.0.0.0/8', 'nope']);
  add('SIDELANE_HOOK_ON_PROXY_DOWN', (v) => parseProxyDownPolicy(v, 'x'), ['wait', 'wait:0', 'wait:600000', 'open', 'closed', ' open ', 'wait:600001', 'wait:', 'wait:-1', 'Open', 'fail']);
  const library = hookLibraryPath();
  for (const [variable, value, parse] of cases) {
    let tsAccepts = true;
    try {
      parse();
    } catch {
      tsAccepts = false;
    }
    const r = spawnSync('true', [], { env: { PATH: process.env.PATH, LD_PRELOAD: library, [variable]: value }, encoding: 'utf8' });
    const cAccepts = !r.stderr.includes('the hook is disabled');
    assert.equal(cAccepts, tsAccepts, `${variable}=${JSON.stringify(value)}: C ${cAccepts ? 'accepts' : 'rejects'} (${r.stderr.trim()}), TypeScript ${tsAccepts ? 'accepts' : 'rejects'}`);
  }
});
