/**
 * The REDIRECT baseline against istio-iptables' own golden file (test/fixtures/istio/inbound-ports-wildcard.golden,
 * `-b '*'` with Istio's default uid/gid 1337): after renaming SIDELANE_ to ISTIO_ and dropping comments, our nat
 * payload is Istio's except for the differences listed here, each with its reason (docs/capture.md repeats them).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { buildPlan } from '../../../src/capture/build';
import { renderIptablesPayload } from '../../../src/capture/iptables-render';
import { captureOptionsFromFlags } from '../../../src/capture/validation';
import { fixturePath } from '../../support/golden-file';
import { environment } from './scenarios';


/** Lines only Istio has, and why sidelane differs. */
const ISTIO_ONLY: Readonly<Record<string, string>> = {
  '-N ISTIO_REDIRECT': 'no outbound capture was asked for (-i \'\'): sidelane does not create a chain nothing jumps to',
  '-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001': 'same: the unused outbound REDIRECT chain',
  '-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN':
    "replaced by one rule over all identities: Istio's per-identity RETURN makes the later identities' VIP-to-self rules unreachable",
  '-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN': 'same: folded into the one rule over all identities',
};

/** Lines only sidelane has, and why. */
const SIDELANE_ONLY: Readonly<Record<string, string>> = {
  '-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN': 'the mesh ports are always excluded (Istio relies on the injector passing -d 15090,15021,15020)',
  '-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN': 'same',
  '-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN': 'same',
  '-A ISTIO_INBOUND -p tcp --dport 15000 -j RETURN': "the proxy's own ports are never captured inbound",
  '-A ISTIO_INBOUND -p tcp --dport 15001 -j RETURN': 'same',
  '-A ISTIO_INBOUND -p tcp --dport 15006 -j RETURN': 'same',
  '-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m mark --mark 0x53a -j ISTIO_IN_REDIRECT':
    "sidelane's proxy is identified by its bypass mark (no reserved uid needed); the uid/gid rules stay for Istio compatibility",
  '-A ISTIO_OUTPUT -m mark --mark 0x53a -j RETURN': 'same: the marked proxy is never captured',
  '-A ISTIO_OUTPUT -o lo -m mark ! --mark 0x53a -m owner ! --uid-owner 1337 -m owner ! --gid-owner 1337 -j RETURN':
    'the app calling itself over lo: one rule over all identities (see above)',
};

function normalise(payload: string): string[] {
  return payload
    .split('\n')
    .map((l) => l.replace(/ -m comment --comment "[^"]*"/, '').replace(/SIDELANE_/g, 'ISTIO_').replace(/^:(\S+) - \[0:0\]$/, '-N $1').replace(/^\*nat$/, '* nat'))
    .filter((l) => l && l !== 'COMMIT');
}

function byChain(lines: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const l of lines) {
    const chain = l.startsWith('-N ') ? '(declarations)' : l.split(' ')[1]!;
    out.set(chain, [...(out.get(chain) ?? []), l]);
  }
  return out;
}

test('the REDIRECT baseline is istio-iptables output up to the documented differences', () => {
  const istio = readFileSync(fixturePath('istio', 'inbound-ports-wildcard.golden'), 'utf8')
    .split('\n')
    .filter((l) => l && !/^(ip6?tables-save|COMMIT)$/.test(l));
  const options = captureOptionsFromFlags({ mode: 'REDIRECT', includeInboundPorts: '*', includeOutboundCidrs: '', proxyUid: '1337', proxyGid: '1337' });
  const ours = normalise(renderIptablesPayload(buildPlan(options, environment(false)).ruleset, 4));

  assert.equal(ours[0], '* nat');
  assert.equal(istio[0], '* nat');
  const expected = istio.filter((l) => !(l in ISTIO_ONLY));
  // As sets: Istio's lines minus ISTIO_ONLY plus SIDELANE_ONLY are exactly ours.
  assert.deepEqual([...ours].sort(), [...expected, ...Object.keys(SIDELANE_ONLY)].sort());
  for (const l of Object.keys(ISTIO_ONLY)) assert.ok(istio.includes(l), `stale difference entry: ${l} is not in Istio's file`);

  // Within every chain Istio's order is kept, except that in ISTIO_OUTPUT all "re-capture as inbound" rules come
  // before the identity RETURNs (which is what makes each of them reachable).
  const oursByChain = byChain(ours.filter((l) => !(l in SIDELANE_ONLY)));
  for (const [chain, lines] of byChain(expected)) {
    let want = lines;
    if (chain === 'ISTIO_OUTPUT') {
      const redirects = lines.filter((l) => l.endsWith('-j ISTIO_IN_REDIRECT'));
      const firstIdentity = lines.findIndex((l) => /-m owner/.test(l));
      const before = lines.slice(0, firstIdentity);
      const rest = lines.slice(firstIdentity).filter((l) => !l.endsWith('-j ISTIO_IN_REDIRECT'));
      want = [...before, ...redirects, ...rest];
    }
    assert.deepEqual(oursByChain.get(chain), want, `order of ${chain}`);
  }
});
