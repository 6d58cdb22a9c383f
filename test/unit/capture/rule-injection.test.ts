/**
 * Issue 10, security: no flag or annotation value reaches iptables-restore or nft text unparsed. Every string flag
 * of `sidelane init` is fed every injection payload (newlines, `;`, braces, quotes, spaces, `-j ACCEPT`, NUL,
 * shell syntax, very long values), alone and after a valid value, and must be refused with one bounded line naming
 * the flag (exit 2). A property then feeds all flags strings biased towards valid tokens mixed with rule syntax: any
 * accepted value renders rules of the fixed shape. Finally, what `sidelane inject` accepts in an annotation always
 * becomes an init command line that init accepts, and injection payloads in annotations are refused by inject.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import fc from 'fast-check';
import type { PodTemplateSpec } from 'kubernetes-types/core/v1';
import { UsageError } from '../../../src/errors';
import { buildPlan, describeIptablesPlan, describeNftPlan } from '../../../src/capture/build';
import { captureOptionsFromFlags, type CaptureFlags } from '../../../src/capture/validation';
import { addCaptureFlags } from '../../../src/cli/commands/capture-flags';
import { injectedInitArgv } from '../../../src/inject/command-line';
import { InjectionError } from '../../../src/inject/injection-error';
import { injectPodTemplate } from '../../../src/inject/pod-injector';
import { environment } from './scenarios';

type StringFlag = Exclude<keyof CaptureFlags, 'preserveSource' | 'notrack' | 'ipv6'>;

/** Every string-valued flag with a valid value and its long name (as error messages name it). */
export const STRING_FLAGS: Readonly<Record<StringFlag, { long: string; valid: string }>> = {
  mode: { long: '--mode', valid: 'tproxy' },
  outbound: { long: '--outbound', valid: 'hook+tproxy' },
  inboundPort: { long: '--inbound-port', valid: '15006' },
  outboundPort: { long: '--outbound-port', valid: '15001' },
  includeInboundPorts: { long: '--include-inbound-ports', valid: '8080,9000-9010' },
  excludeInboundPorts: { long: '--exclude-inbound-ports', valid: '22' },
  includeOutboundCidrs: { long: '--include-outbound-cidrs', valid: '10.0.0.0/8' },
  excludeOutboundCidrs: { long: '--exclude-outbound-cidrs', valid: '2001:db8::/32' },
  includeOutboundPorts: { long: '--include-outbound-ports', valid: '3306' },
  excludeOutboundPorts: { long: '--exclude-outbound-ports', valid: '5432' },
  excludeInterfaces: { long: '--exclude-interfaces', valid: 'eth1' },
  mark: { long: '--mark', valid: '0x539' },
  bypassMark: { long: '--bypass-mark', valid: '0x53a' },
  routeTable: { long: '--route-table', valid: '133' },
  proxyUid: { long: '--proxy-uid', valid: '1337' },
  proxyGid: { long: '--proxy-gid', valid: '1337' },
  backend: { long: '--backend', valid: 'nft' },
};

/** What an attacker would append to (or put in place of) a value to reach rule text or a shell. */
export const PAYLOADS: readonly string[] = [
  '\n-A INPUT -j ACCEPT',
  '\nCOMMIT\n*filter\n-P INPUT ACCEPT',
  '; flush ruleset',
  '"; flush ruleset; "',
  "' -j ACCEPT '",
  ' -j ACCEPT',
  '\t-j ACCEPT',
  '{ 1, 2 }',
  '}',
  ' } ; table ip x { chain y { type filter hook input priority 0; policy drop; } }',
  '#',
  '\r',
  '\0',
  '$(id)',
  '`id`',
  '|| true',
  '\\',
  ' ',
  '９',
  '٣',
  '1'.repeat(5000),
  'a'.repeat(5000),
];

function refused(flags: CaptureFlags, long: string): void {
  assert.throws(
    () => captureOptionsFromFlags(flags),
    (err: unknown) => {
      assert.ok(err instanceof UsageError, `a usage error, got ${String(err)}`);
      assert.equal(err.exitCode, 2);
      assert.ok(!/[\n\r\0]/.test(err.message), `one line, control characters escaped: ${JSON.stringify(err.message)}`);
      assert.ok(err.message.length < 400, `bounded message (${err.message.length} characters)`);
      assert.ok(err.message.startsWith(long), `names ${long}: ${err.message}`);
      return true;
    },
    `${long} ${JSON.stringify(Object.values(flags)[0])} must be refused`,
  );
}

test('every string flag refuses every injection payload, alone and after a valid value', (t) => {
  let cases = 0;
  for (const [flag, { long, valid }] of Object.entries(STRING_FLAGS) as [StringFlag, { long: string; valid: string }][]) {
    for (const payload of PAYLOADS) {
      // List flags trim surrounding whitespace (a lone ' ' is the empty list); what remains is parsed into numbers,
      // CIDRs or names, so whitespace around a valid value is harmless and accepted.
      if (payload.trim() === '' && /Ports$|Cidrs$|Interfaces$|Uid$|Gid$/.test(flag)) continue;
      refused({ [flag]: payload }, long);
      refused({ [flag]: `${valid}${payload}` }, long);
      refused({ [flag]: `${payload}${valid}` }, long);
      cases += 3;
    }
  }
  assert.ok(cases > 900, `${cases} cases`);
  t.diagnostic(`${cases} flag × payload cases refused`);
});

/** Rendered rules have the fixed shape: values are numbers, canonical CIDRs or checked interface names. */
function assertFixedShape(flags: CaptureFlags): void {
  const plan = buildPlan(captureOptionsFromFlags(flags), environment(true));
  const iptables = describeIptablesPlan(plan, 4) + describeIptablesPlan(plan, 6);
  for (const line of iptables.split('\n')) {
    if (line === '') continue;
    assert.match(line, /^(\*(raw|mangle|nat)|:SIDELANE_[A-Z_]+ - \[0:0\]|-A [A-Z_]+ .*|COMMIT|EOF|ip6?tables-restore --noflush <<'EOF'|ip -[46] [a-z0-9 :./]+)$/, line);
    if (!line.endsWith("<<'EOF'")) assert.doesNotMatch(line.replace(/--comment "[^"\n]*"/g, ''), /["';`$\\{}#]/, line);
    assert.ok((line.match(/"/g) ?? []).length % 2 === 0, `balanced quotes: ${line}`);
  }
  for (const line of describeNftPlan(plan).split('\n')) {
    // Quoted interface names: up to 15 characters, then nft's `*` for iptables' `+` prefix match.
    const bare = line.replace(/comment "[^"\n]*"/g, '').replace(/"[A-Za-z0-9_.-]{1,15}\*?"/g, '').replace(/<<'EOF'$/, '');
    assert.doesNotMatch(bare, /["'`$\\#]/, `unexpected quoting in ${line}`);
    if (bare.includes(';')) assert.match(line, /^\t\ttype (filter|route|nat) hook \w+ priority [-\w]+; policy accept;$/);
  }
  assert.doesNotMatch(iptables + describeNftPlan(plan), /[^\t\n\x20-\x7e]/, 'printable ASCII only');
}

test('any value a flag accepts renders rules of the fixed shape (property over every flag, rule syntax mixed into valid tokens)', () => {
  const syntax = fc.constantFrom(' ', '\n', ';', '"', "'", '{', '}', '#', '-j', 'ACCEPT', '\\', '\t', '$', '*', '+', '/', ':', '-', ',', '.', '0x', '\0');
  const token = fc.constantFrom('0', '1', '22', '8080', '65535', '65536', '10.0.0.0/8', '::1', '2001:db8::/32', 'eth0', 'veth+', 'lo', '1337', 'ff', 'tproxy', 'nft', 'hook');
  const value = fc.array(fc.oneof({ weight: 3, arbitrary: token }, { weight: 1, arbitrary: syntax }), { minLength: 1, maxLength: 6 }).map((parts) => parts.join(''));
  // Edge values found by the property once (kept as fixed examples): a 15-character interface prefix match.
  assertFixedShape({ excludeInterfaces: '22.tproxy0xveth+' });
  assertFixedShape({ excludeInterfaces: 'abcdefghijklmno,x+' });
  let accepted = 0;
  fc.assert(
    fc.property(fc.constantFrom(...(Object.keys(STRING_FLAGS) as StringFlag[])), value, (flag, v) => {
      let ok = true;
      try {
        captureOptionsFromFlags({ [flag]: v });
      } catch (err) {
        assert.ok(err instanceof UsageError, String(err));
        ok = false;
      }
      if (!ok) return;
      accepted++;
      assertFixedShape({ [flag]: v });
    }),
    { numRuns: 2000 },
  );
  assert.ok(accepted > 100, `the generator must also produce accepted values (${accepted})`);
});

// ---- inject → init ---------------------------------------------------------------------------------------------

const OPTIONS = { image: 'ghcr.io/sidelane/sidelane:0.1.0', nativeSidecar: true, version: '0.1.0' };

function inject(annotations: Record<string, string>): string[] | undefined {
  const template: PodTemplateSpec = { metadata: { labels: { app: 'web' }, annotations }, spec: { containers: [{ name: 'web', image: 'example.test/web:1' }] } };
  return injectedInitArgv(injectPodTemplate(template, OPTIONS, 'Deployment/shop/web').template.spec);
}

/** The init flags exactly as `sidelane init` parses that argv (the real commander definition, no action). */
function initFlags(argv: readonly string[]): CaptureFlags {
  assert.deepEqual(argv.slice(0, 2), ['sidelane', 'init']);
  const cmd = addCaptureFlags(new Command('init').exitOverride().configureOutput({ writeErr: () => undefined }).option('--hook-dir <dir>'));
  cmd.parse(argv.slice(2), { from: 'user' });
  return cmd.opts() as CaptureFlags;
}

/** The annotations whose values become init flags. */
const CAPTURE_ANNOTATIONS: Readonly<Record<string, string>> = {
  'traffic.sidecar.istio.io/includeInboundPorts': '8080,9000',
  'traffic.sidecar.istio.io/excludeInboundPorts': '22',
  'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.0.0.0/8',
  'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.96.0.0/12',
  'traffic.sidecar.istio.io/includeOutboundPorts': '3306',
  'traffic.sidecar.istio.io/excludeOutboundPorts': '5432',
  'traffic.sidecar.istio.io/excludeInterfaces': 'eth1',
  'status.sidecar.istio.io/port': '15020',
  'sidecar.istio.io/interceptionMode': 'TPROXY',
  'sidelane.io/mode': 'tproxy',
  'sidelane.io/outbound': 'hook+tproxy',
  'sidelane.io/preserve-source': 'true',
  'sidelane.io/ipv6': 'true',
};

test('injection payloads in capture annotations are refused by inject, naming the annotation', () => {
  for (const [name, valid] of Object.entries(CAPTURE_ANNOTATIONS)) {
    for (const payload of PAYLOADS) {
      if (payload.trim() === '') continue; // values are trimmed, like Istio's
      for (const value of [payload, `${valid}${payload}`]) {
        assert.throws(
          () => inject({ 'sidelane.io/outbound': 'hook+tproxy', [name]: value }),
          (err: unknown) =>
            err instanceof InjectionError && err.annotation === name && err.exitCode === 2 && !/[\u0000-\u001f]/.test(err.message) && err.message.length < 500,
          `${name}: ${JSON.stringify(value.slice(0, 60))} must be refused with one bounded line naming the annotation`,
        );
      }
    }
  }
});

test('whatever inject accepts in a capture annotation becomes an init command line that init accepts (property)', () => {
  const piece = fc.constantFrom('0', '1', '22', '080', '8080', '65535', '65536', '10.0.0.1/8', '::ffff:1.2.3.4/104', '2001:db8::/32', '1.2.3.4', 'eth0', 'eth0:1', 'veth@if3', 'br-1.100', 'veth+', '*', ',', ' ', '-', ':', '/', '@', '.', 'TPROXY', 'tproxy', 'true');
  const listOf = (items: string[]): fc.Arbitrary<string> => fc.array(fc.constantFrom(...items), { minLength: 1, maxLength: 4 }).map((p) => p.join(','));
  const value = fc.oneof(
    fc.array(piece, { minLength: 1, maxLength: 5 }).map((p) => p.join('')),
    listOf(['22', ' 8080', '080', '1-100', '9000', '65535', '*']),
    listOf(['10.0.0.1/8', ' ::ffff:1.2.3.4/104', '2001:db8::/32', '0.0.0.0/0', '*']),
    listOf(['eth0', 'veth+', 'br-1.100', 'a.b', 'eth0:1', 'veth@if3']),
    fc.constantFrom('TPROXY', 'REDIRECT', 'NONE', 'tproxy', 'redirect', 'none', 'hook', 'tproxy', 'true', 'false', '0', '15020', '65535'),
  );
  let accepted = 0;
  fc.assert(
    fc.property(fc.constantFrom(...Object.keys(CAPTURE_ANNOTATIONS)), value, (name, v) => {
      let argv: string[] | undefined;
      try {
        argv = inject({ 'sidelane.io/outbound': 'hook+tproxy', [name]: v });
      } catch (err) {
        assert.ok(err instanceof InjectionError, String(err));
        return;
      }
      if (argv === undefined) return; // capture mode none
      accepted++;
      assert.doesNotThrow(() => captureOptionsFromFlags(initFlags(argv!)), `${name}=${JSON.stringify(v)} was injected as ${JSON.stringify(argv)}, which init refuses`);
    }),
    { numRuns: 1500 },
  );
  assert.ok(accepted > 100, `the generator must also produce accepted values (${accepted})`);
});
