/**
 * Builds the Istio-style nat REDIRECT baseline (DESIGN 3.6): the chains and rules istio-iptables installs in
 * REDIRECT mode (tools/istio-iptables/pkg/capture/run.go), renamed SIDELANE_*, with sidelane's bypass mark as the
 * proxy identity next to Istio's owner match. docs/capture.md lists every difference from Istio's golden files.
 */
import type { Cidr, Family } from './cidr';
import {
  ADMIN_PORT,
  PASSTHROUGH_SOURCE,
  capturedInboundPorts,
  inboundCaptureActive,
  outputCaptureActive,
  type CaptureEnvironment,
  type CaptureOptions,
} from './options';
import { PortSet } from './port-set';
import { assertWellFormed, type Action, type Chain, type Match, type Rule, type Ruleset } from './ruleset';

const TCP: Match = { kind: 'tcp' };
const LOOPBACK: Readonly<Record<Family, Cidr>> = {
  4: { family: 4, address: '127.0.0.1', prefix: 32 },
  6: { family: 6, address: '::1', prefix: 128 },
};
const HBONE_PORT = 15008;

function rule(matches: Match[], action: Action, reason: string, family?: Family): Rule {
  return family === undefined ? { matches, action, reason } : { matches, action, reason, family };
}

function portRange(from: number, to: number): PortSet {
  return PortSet.of([{ from, to }]);
}

/** Istio's order of inbound exclusions: 15008 first, the injector's 15090,15021,15020, then sidelane's own ports, then the user's. */
function inboundExclusions(o: CaptureOptions): PortSet[] {
  let covered = PortSet.EMPTY;
  const out: PortSet[] = [];
  const add = (p: PortSet): void => {
    const fresh = p.minus(covered);
    for (const r of fresh.ranges) out.push(portRange(r.from, r.to));
    covered = covered.union(p);
  };
  for (const p of [HBONE_PORT, 15090, 15021, 15020, ADMIN_PORT, o.outboundPort, o.inboundPort]) add(PortSet.of([p]));
  add(o.excludeInboundPorts);
  return out;
}

interface Identity {
  readonly match: Match;
  readonly negated: Match;
  readonly name: string;
}

/** The proxy's identities: its bypass mark always, then Istio's `-u` users and `-g` groups. */
function identities(o: CaptureOptions): Identity[] {
  return [
    { match: { kind: 'mark', value: o.bypassMark }, negated: { kind: 'mark', value: o.bypassMark, negate: true }, name: 'the bypass mark' },
    ...o.proxyUids.map((uid) => ({ match: { kind: 'owner', uid } as Match, negated: { kind: 'owner', uid, negate: true } as Match, name: `--proxy-uid ${uid}` })),
    ...o.proxyGids.map((gid) => ({ match: { kind: 'owner', gid } as Match, negated: { kind: 'owner', gid, negate: true } as Match, name: `--proxy-gid ${gid}` })),
  ];
}

export function buildRedirectRuleset(o: CaptureOptions, env: CaptureEnvironment): Ruleset {
  const chains: Chain[] = [];
  const inbound = inboundCaptureActive(o);
  const outboundCapture = outputCaptureActive(o);
  const outputChain = o.outbound !== 'none';
  const families = env.families;

  if (inbound) {
    const rules: Rule[] = [
      ...o.excludeInterfaces.map((name) => rule([{ kind: 'inInterface', name }], { kind: 'return' }, `--exclude-interfaces ${name}: inbound traffic on this interface is not captured`)),
      ...inboundExclusions(o).map((ports) => rule([TCP, { kind: 'destinationPort', ports }], { kind: 'return' }, `inbound port ${ports.toString()} is served directly, not captured`)),
    ];
    const captured = capturedInboundPorts(o);
    if (captured === '*') {
      rules.push(rule([TCP], { kind: 'jump', chain: 'IN_REDIRECT' }, 'capture every other inbound TCP port'));
    } else {
      for (const r of captured.ranges) {
        const ports = portRange(r.from, r.to);
        rules.push(rule([TCP, { kind: 'destinationPort', ports }], { kind: 'jump', chain: 'IN_REDIRECT' }, `--include-inbound-ports ${ports.toString()}: captured`));
      }
    }
    chains.push({ name: 'INBOUND', table: 'nat', hook: { builtin: 'PREROUTING', tcpOnly: true, reason: 'sidelane capture (redirect): inbound' }, rules });
  }
  if (outboundCapture) {
    chains.push({ name: 'REDIRECT', table: 'nat', rules: [rule([TCP], { kind: 'redirect', port: o.outboundPort }, `NAT to the outbound listener :${o.outboundPort}`)] });
  }
  if (inbound) {
    chains.push({ name: 'IN_REDIRECT', table: 'nat', rules: [rule([TCP], { kind: 'redirect', port: o.inboundPort }, `NAT to the inbound listener :${o.inboundPort}`)] });
  }

  if (outputChain) {
    const ids = identities(o);
    const rules: Rule[] = [
      ...o.excludeInterfaces.map((name) => rule([{ kind: 'outInterface', name }], { kind: 'return' }, `--exclude-interfaces ${name}: traffic leaving on this interface is not captured`)),
    ];
    for (const r of o.excludeOutboundPorts.ranges) {
      const ports = portRange(r.from, r.to);
      rules.push(rule([TCP, { kind: 'destinationPort', ports }], { kind: 'return' }, `--exclude-outbound-ports ${ports.toString()}: not captured`));
    }
    for (const f of families) {
      rules.push(
        rule(
          [{ kind: 'outInterface', name: 'lo' }, { kind: 'source', cidr: PASSTHROUGH_SOURCE[f] }],
          { kind: 'return' },
          `the proxy's inbound legs to the app come from ${PASSTHROUGH_SOURCE[f].address}: never captured`,
          f,
        ),
      );
    }
    if (inbound) {
      for (const id of ids) {
        for (const f of families) {
          rules.push(
            rule(
              [
                { kind: 'outInterface', name: 'lo' },
                { kind: 'destination', cidr: LOOPBACK[f], negate: true },
                TCP,
                { kind: 'destinationPort', ports: PortSet.of([HBONE_PORT]), negate: true },
                id.match,
              ],
              { kind: 'jump', chain: 'IN_REDIRECT' },
              `the proxy (${id.name}) calling its own pod (app via a service VIP): captured again as inbound`,
              f,
            ),
          );
        }
      }
    }
    rules.push(
      rule([{ kind: 'outInterface', name: 'lo' }, ...ids.map((id) => id.negated)], { kind: 'return' }, 'the app calling itself over lo (its own pod address, hooked connections): not captured'),
      ...ids.map((id) => rule([id.match], { kind: 'return' }, `the proxy's own traffic (${id.name}): never captured`)),
    );
    for (const f of families) {
      rules.push(rule([{ kind: 'destination', cidr: LOOPBACK[f] }], { kind: 'return' }, 'explicit localhost traffic is never captured', f));
    }
    if (outboundCapture) {
      for (const c of o.excludeOutboundCidrs.filter((x) => families.includes(x.family))) {
        rules.push(rule([{ kind: 'destination', cidr: c }], { kind: 'return' }, '--exclude-outbound-cidrs: not captured', c.family));
      }
      for (const r of o.includeOutboundPorts.ranges) {
        const ports = portRange(r.from, r.to);
        rules.push(rule([TCP, { kind: 'destinationPort', ports }], { kind: 'jump', chain: 'REDIRECT' }, `--include-outbound-ports ${ports.toString()}: captured whatever the destination`));
      }
      if (o.includeOutboundCidrs === '*') {
        rules.push(rule([], { kind: 'jump', chain: 'REDIRECT' }, 'capture outbound TCP to every other destination'));
      } else {
        for (const c of o.includeOutboundCidrs.filter((x) => families.includes(x.family))) {
          rules.push(rule([{ kind: 'destination', cidr: c }], { kind: 'jump', chain: 'REDIRECT' }, '--include-outbound-cidrs: captured', c.family));
        }
      }
    }
    chains.push({ name: 'OUTPUT', table: 'nat', hook: { builtin: 'OUTPUT', reason: 'sidelane capture (redirect): outbound and loop avoidance' }, rules });
  }

  const ruleset: Ruleset = { mode: 'redirect', families, chains };
  assertWellFormed(ruleset);
  return ruleset;
}
