/**
 * The capture configurations the golden files cover (every mode, every --outbound choice, the Istio-style flags),
 * as the flag values a user would type, plus the fixed namespace facts they are rendered against.
 */
import type { CaptureFlags } from '../../../src/capture/validation';
import type { CaptureEnvironment } from '../../../src/capture/options';
import { PortSet } from '../../../src/capture/port-set';

export interface Scenario {
  readonly name: string;
  /** The command line, for the golden file's first line. */
  readonly command: string;
  readonly flags: CaptureFlags;
}

const ISTIO_FLAGS: CaptureFlags = {
  proxyUid: '1337',
  proxyGid: '1337',
  includeInboundPorts: '8080,9000-9100',
  excludeInboundPorts: '22',
  includeOutboundCidrs: '10.0.0.0/8,2001:db8::/32',
  excludeOutboundCidrs: '10.96.0.0/12,fd00::/8',
  includeOutboundPorts: '3306',
  excludeOutboundPorts: '5432,6379',
  excludeInterfaces: 'eth1,veth+',
};
const ISTIO_COMMAND = "-u 1337 -g 1337 -b 8080,9000-9100 -d 22 -i 10.0.0.0/8,2001:db8::/32 -x 10.96.0.0/12,fd00::/8 -q 3306 -o 5432,6379 -c eth1,veth+";

export const SCENARIOS: readonly Scenario[] = [
  { name: 'tproxy', command: 'sidelane init', flags: {} },
  { name: 'tproxy-outbound-tproxy', command: 'sidelane init --outbound tproxy', flags: { outbound: 'tproxy' } },
  { name: 'tproxy-outbound-hook', command: 'sidelane init --outbound hook', flags: { outbound: 'hook' } },
  { name: 'tproxy-outbound-none', command: 'sidelane init --outbound none', flags: { outbound: 'none' } },
  { name: 'tproxy-istio-flags', command: `sidelane init -m TPROXY ${ISTIO_COMMAND}`, flags: { mode: 'TPROXY', ...ISTIO_FLAGS } },
  {
    name: 'tproxy-no-preserve-source-no-notrack',
    command: 'sidelane init --no-preserve-source --no-notrack --mark 0x1000 --bypass-mark 0x1001 --route-table 200',
    flags: { preserveSource: false, notrack: false, mark: '0x1000', bypassMark: '0x1001', routeTable: '200' },
  },
  { name: 'redirect', command: 'sidelane init --mode redirect', flags: { mode: 'redirect' } },
  {
    // The istio-init arguments of pkg/kube/inject/testdata/inject/hello.yaml.injected.
    name: 'redirect-istio-injected',
    command: "sidelane init -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x '' -b '*' -d 15090,15021,15020",
    flags: { outboundPort: '15001', inboundPort: '15006', proxyUid: '1337', mode: 'REDIRECT', includeOutboundCidrs: '*', excludeOutboundCidrs: '', includeInboundPorts: '*', excludeInboundPorts: '15090,15021,15020' },
  },
  {
    // istio-iptables' inbound-ports-wildcard.golden: -b '*', no outbound CIDRs, uid and gid 1337 (Istio's defaults).
    name: 'redirect-inbound-ports-wildcard',
    command: "sidelane init -m REDIRECT -b '*' -i '' -u 1337 -g 1337",
    flags: { mode: 'REDIRECT', includeInboundPorts: '*', includeOutboundCidrs: '', proxyUid: '1337', proxyGid: '1337' },
  },
  { name: 'redirect-istio-flags', command: `sidelane init -m REDIRECT ${ISTIO_COMMAND}`, flags: { mode: 'REDIRECT', ...ISTIO_FLAGS } },
];

export function environment(ipv6: boolean): CaptureEnvironment {
  return { families: ipv6 ? [4, 6] : [4], ephemeralPorts: PortSet.of([{ from: 32768, to: 60999 }]) };
}
