/**
 * Builds the conntrack-free TPROXY ruleset (DESIGN 3.1, 3.2, 3.4): inbound TPROXY with `socket` matching instead of
 * conntrack state, reply marking for source preservation, the outbound TPROXY fallback on OUTPUT, and the raw-table
 * notrack rules that mirror the same classification. docs/capture.md explains every rule.
 *
 * The OUTPUT classification, without conntrack to tell directions apart, rests on the source port of the packet:
 *   - in the directly served ports (mesh, proxy, --exclude-inbound-ports): a reply the app sends itself — untouched;
 *   - outside the ephemeral range (ip_local_port_range minus ip_local_reserved_ports) and captured inbound: a reply
 *     on a captured port — rerouted to the proxy's source-preserving socket;
 *   - inside the ephemeral range: the app's own outbound connection — the outbound capture rules decide.
 */
import type { Cidr, Family } from './cidr';
import {
  PASSTHROUGH_SOURCE,
  capturedInboundPorts,
  excludedInboundPorts,
  hookActive,
  inboundCaptureActive,
  outputCaptureActive,
  type CaptureEnvironment,
  type CaptureOptions,
} from './options';
import { PortSet } from './port-set';
import { assertWellFormed, type Action, type Chain, type Match, type Rule, type Ruleset } from './ruleset';

const TCP: Match = { kind: 'tcp' };

function rule(matches: Match[], action: Action, reason: string, family?: Family): Rule {
  return family === undefined ? { matches, action, reason } : { matches, action, reason, family };
}

/** The owner matches of the Istio-compatible proxy identities (`-u`, `-g`). */
function identityRules(o: CaptureOptions, action: Action, extra: Match[] = []): Rule[] {
  return [
    ...o.proxyUids.map((uid) => rule([...extra, { kind: 'owner', uid }], action, `--proxy-uid ${uid}: the proxy's own traffic (Istio-compatible identity)`)),
    ...o.proxyGids.map((gid) => rule([...extra, { kind: 'owner', gid }], action, `--proxy-gid ${gid}: the proxy's own traffic (Istio-compatible identity)`)),
  ];
}

function cidrsOf(cidrs: readonly Cidr[], families: readonly Family[]): Cidr[] {
  return cidrs.filter((c) => families.includes(c.family));
}

/**
 * The decisions on the app's outbound packets (ephemeral source port), shared by the mangle chain (reroute to
 * the proxy) and the raw chain (no conntrack entry): exclusions first, then the include lists (Istio's order).
 */
function outboundDecisions(o: CaptureOptions, env: CaptureEnvironment, capture: Action, captured: string): Rule[] {
  const rules: Rule[] = [];
  if (!o.excludeOutboundPorts.isEmpty) {
    rules.push(rule([TCP, { kind: 'destinationPort', ports: o.excludeOutboundPorts }], { kind: 'return' }, '--exclude-outbound-ports: connections to these ports are not captured'));
  }
  for (const c of cidrsOf(o.excludeOutboundCidrs, env.families)) {
    rules.push(rule([{ kind: 'destination', cidr: c }], { kind: 'return' }, '--exclude-outbound-cidrs: connections to this range are not captured', c.family));
  }
  if (!o.includeOutboundPorts.isEmpty) {
    rules.push(rule([TCP, { kind: 'destinationPort', ports: o.includeOutboundPorts }], capture, `--include-outbound-ports (whatever the destination): ${captured}`));
  }
  if (o.includeOutboundCidrs === '*') {
    rules.push(rule([TCP], capture, `the app's outbound TCP connection: ${captured}`));
  } else {
    for (const c of cidrsOf(o.includeOutboundCidrs, env.families)) {
      rules.push(rule([TCP, { kind: 'destination', cidr: c }], capture, `--include-outbound-cidrs: ${captured}`, c.family));
    }
  }
  return rules;
}

/** Matches of "a reply the app sends on a captured inbound port" (DESIGN 3.2), or undefined when there is none. */
function replyMatches(o: CaptureOptions, env: CaptureEnvironment): Match[] | undefined {
  if (!o.preserveSource || !inboundCaptureActive(o)) return undefined;
  const captured = capturedInboundPorts(o);
  if (captured === '*') return [TCP, { kind: 'sourcePort', ports: env.ephemeralPorts, negate: true }];
  return [TCP, { kind: 'sourcePort', ports: captured }];
}

export function buildTproxyRuleset(o: CaptureOptions, env: CaptureEnvironment): Ruleset {
  const served = excludedInboundPorts(o);
  const captured = capturedInboundPorts(o);
  const inbound = inboundCaptureActive(o);
  const outboundTproxy = outputCaptureActive(o);
  const replies = replyMatches(o, env);
  const ephemeral: Match[] = [TCP, { kind: 'sourcePort', ports: env.ephemeralPorts }];
  const servedDirectly = (ports: 'destinationPort' | 'sourcePort'): Match[] => [TCP, { kind: ports, ports: served }];
  const capturedPorts: Match[] = captured === '*' ? [TCP] : [TCP, { kind: 'destinationPort', ports: captured }];
  const chains: Chain[] = [];

  // --- mangle PREROUTING: inbound TPROXY (3.1), the lo leg of outbound TPROXY (3.4), established flows (no conntrack).
  // Not for a SYN: `socket --transparent` also finds the proxy's TIME_WAIT sockets, and a client reusing its port
  // within 60 s would have its new SYN diverted into one (about a second lost per connection under churn); a SYN
  // goes on to the TPROXY rule, whose target handles TIME_WAIT properly.
  const prerouting: Rule[] = [
    rule([TCP, { kind: 'notSyn' }, { kind: 'transparentSocket' }], { kind: 'jump', chain: 'DIVERT' }, "a packet (not a new SYN) for one of the proxy's transparent sockets (captured flow, reply to a source-preserving leg)"),
  ];
  if (outboundTproxy) {
    prerouting.push(
      rule(
        [{ kind: 'inInterface', name: 'lo' }, TCP, { kind: 'mark', value: o.mark }],
        { kind: 'tproxy', port: o.outboundPort, mark: o.mark },
        `the app's outbound TCP, marked on OUTPUT and routed over lo: to the outbound listener :${o.outboundPort}`,
      ),
    );
  }
  prerouting.push(rule([{ kind: 'inInterface', name: 'lo' }], { kind: 'return' }, 'loopback traffic (hooked connections, the proxy legs to the app) is never captured inbound'));
  if (inbound) {
    for (const name of o.excludeInterfaces) {
      prerouting.push(rule([{ kind: 'inInterface', name }], { kind: 'return' }, `--exclude-interfaces ${name}: inbound traffic on this interface is not captured`));
    }
    prerouting.push(
      rule([TCP, { kind: 'notSyn' }, { kind: 'localSocket' }], { kind: 'return' }, "a packet of another local socket's connection (the app's direct ones, proxy upstreams): TPROXY would drop it"),
      rule(servedDirectly('destinationPort'), { kind: 'return' }, 'inbound ports served directly: 15008 15020 15021 15090, the proxy ports, --exclude-inbound-ports'),
      rule(capturedPorts, { kind: 'tproxy', port: o.inboundPort, mark: o.mark }, `a new inbound connection: to the inbound listener :${o.inboundPort}, the local address stays the original destination`),
    );
  }
  chains.push({
    name: 'PREROUTING',
    table: 'mangle',
    hook: { builtin: 'PREROUTING', reason: 'sidelane capture: inbound TPROXY and the lo leg of outbound TPROXY' },
    rules: prerouting,
  });
  chains.push({
    name: 'DIVERT',
    table: 'mangle',
    rules: [
      rule([], { kind: 'setMark', value: o.mark }, `deliver locally: the fwmark policy route (table ${o.routeTable}) sends it to lo`),
      rule([], { kind: 'accept' }, "the proxy's packet needs no further mangle rule"),
    ],
  });

  // --- mangle OUTPUT: source-preservation replies (3.2) and the outbound TPROXY fallback (3.4).
  if (replies || outboundTproxy) {
    const output: Rule[] = [
      rule([{ kind: 'mark', value: o.bypassMark }], { kind: 'return' }, "the proxy's own sockets carry the bypass mark: never captured"),
      ...identityRules(o, { kind: 'return' }),
      rule([{ kind: 'outInterface', name: 'lo' }], { kind: 'return' }, "local destinations (loopback, hooked connections to 127.0.0.0/8 and ::1, the pod's addresses) are never captured"),
      ...o.excludeInterfaces.map((name) => rule([{ kind: 'outInterface', name }], { kind: 'return' }, `--exclude-interfaces ${name}: traffic leaving on this interface is not captured`)),
      rule(servedDirectly('sourcePort'), { kind: 'return' }, 'a reply on an inbound port the app serves directly: untouched'),
    ];
    if (replies) {
      output.push(rule(replies, { kind: 'goto', chain: 'REROUTE' }, "the app's reply on a captured inbound port: back to the proxy's source-preserving socket"));
    }
    if (outboundTproxy) {
      output.push(rule(ephemeral, { kind: 'goto', chain: 'OUTBOUND' }, "an ephemeral source port: the app's own outbound connection, subject to outbound capture"));
    }
    chains.push({ name: 'OUTPUT', table: 'mangle', hook: { builtin: 'OUTPUT', reason: 'sidelane capture: source-preservation replies and outbound TPROXY' }, rules: output });
    if (outboundTproxy) {
      chains.push({ name: 'OUTBOUND', table: 'mangle', rules: outboundDecisions(o, env, { kind: 'goto', chain: 'REROUTE' }, 'rerouted to the outbound listener') });
    }
    chains.push({
      name: 'REROUTE',
      table: 'mangle',
      rules: [rule([], { kind: 'setMark', value: o.mark }, `mark it: the fwmark policy route (table ${o.routeTable}) delivers it over lo to the proxy`)],
    });
  }

  // --- raw: no conntrack entry for any packet of a captured flow, even when something else loads conntrack.
  if (o.notrack) {
    const rawPre: Rule[] = [
      rule([{ kind: 'inInterface', name: 'lo' }], { kind: 'return' }, 'loopback packets keep the verdict taken on output'),
      // Transparent first: it also matches the request socket of a handshake in progress (the client's third ACK),
      // which carries no mark yet; a marked socket check alone would let that ACK start a conntrack entry.
      rule([TCP, { kind: 'transparentSocket' }], { kind: 'notrack' }, "a packet for one of the proxy's transparent sockets (captured flows): no conntrack entry"),
      rule([TCP, { kind: 'socketMark', value: o.bypassMark }], { kind: 'notrack' }, "a packet for one of the proxy's other sockets (upstream connections): no conntrack entry"),
    ];
    if (inbound) {
      rawPre.push(
        ...o.excludeInterfaces.map((name) => rule([{ kind: 'inInterface', name }], { kind: 'return' }, `--exclude-interfaces ${name}: not captured, conntrack as usual`)),
        rule([TCP, { kind: 'notSyn' }, { kind: 'localSocket' }], { kind: 'return' }, "a packet for the app's own connections: not captured, conntrack as usual"),
        rule(servedDirectly('destinationPort'), { kind: 'return' }, 'inbound ports served directly: not captured, conntrack as usual'),
        rule(capturedPorts, { kind: 'notrack' }, 'a new inbound connection captured by TPROXY: no conntrack entry'),
      );
    }
    chains.push({ name: 'RAW_PREROUTING', table: 'raw', hook: { builtin: 'PREROUTING', reason: 'sidelane capture: no conntrack for captured inbound flows' }, rules: rawPre });

    const rawOut: Rule[] = [
      rule([TCP, { kind: 'mark', value: o.bypassMark }], { kind: 'notrack' }, "the proxy's own sockets (replies, legs to the app, upstream connections): no conntrack entry"),
      ...identityRules(o, { kind: 'notrack' }, [TCP]),
    ];
    if (hookActive(o)) {
      rawOut.push(
        rule(
          [{ kind: 'outInterface', name: 'lo' }, TCP, { kind: 'destinationPort', ports: PortSet.of([o.outboundPort]) }],
          { kind: 'notrack' },
          `hooked connections (the app to 127.x.y.z:${o.outboundPort}): no conntrack entry`,
        ),
      );
    }
    for (const f of env.families) {
      rawOut.push(
        rule(
          [{ kind: 'outInterface', name: 'lo' }, { kind: 'destination', cidr: PASSTHROUGH_SOURCE[f] }, TCP],
          { kind: 'notrack' },
          `the app's replies to the proxy legs from ${PASSTHROUGH_SOURCE[f].address}: no conntrack entry`,
          f,
        ),
      );
    }
    rawOut.push(
      rule([{ kind: 'outInterface', name: 'lo' }], { kind: 'return' }, 'other local traffic is not captured: conntrack as usual'),
      ...o.excludeInterfaces.map((name) => rule([{ kind: 'outInterface', name }], { kind: 'return' }, `--exclude-interfaces ${name}: not captured, conntrack as usual`)),
      rule(servedDirectly('sourcePort'), { kind: 'return' }, 'a reply on an inbound port the app serves directly: conntrack as usual'),
    );
    if (replies) rawOut.push(rule(replies, { kind: 'notrack' }, "the app's reply on a captured inbound port: no conntrack entry"));
    if (outboundTproxy) rawOut.push(rule(ephemeral, { kind: 'goto', chain: 'RAW_OUTBOUND' }, "an ephemeral source port: the app's own outbound connection"));
    chains.push({ name: 'RAW_OUTPUT', table: 'raw', hook: { builtin: 'OUTPUT', reason: 'sidelane capture: no conntrack for captured flows' }, rules: rawOut });
    if (outboundTproxy) {
      chains.push({ name: 'RAW_OUTBOUND', table: 'raw', rules: outboundDecisions(o, env, { kind: 'notrack' }, 'captured, no conntrack entry') });
    }
  }

  const ruleset: Ruleset = { mode: 'tproxy', families: env.families, chains };
  assertWellFormed(ruleset);
  return ruleset;
}
