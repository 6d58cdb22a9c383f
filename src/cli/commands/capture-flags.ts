/**
 * The capture flags shared by `sidelane init` and `sidelane cleanup` (DESIGN 8, with istio-iptables' short
 * aliases so an istio-init command line can be pointed at sidelane), and the real dependencies those commands run
 * with: the process runner, the addon's libnftables, /proc, the state directory.
 */
import type { Command } from 'commander';
import { addon } from '../../native/addon';
import { ProcessRunner } from '../../netns/command';
import { procFiles } from '../../capture/environment';
import type { CaptureDeps } from '../../capture/installer';
import { addonNftRunner } from '../../capture/nft-backend';
import { FileStateStore } from '../../capture/state';

export function addCaptureFlags(cmd: Command): Command {
  return cmd
    .option('-m, --mode <mode>', 'tproxy (conntrack-free, default) or redirect (Istio-style nat baseline); TPROXY/REDIRECT accepted')
    .option('--outbound <how>', 'outbound capture: hook+tproxy (default), hook, tproxy or none')
    .option('-z, --inbound-port <port>', 'inbound listener port (default 15006)')
    .option('-p, --outbound-port <port>', 'outbound listener port (default 15001)')
    .option('-b, --include-inbound-ports <ports>', "inbound ports to capture: '*' (default) or a list like 8080,9000-9010; '' captures none")
    .option('-d, --exclude-inbound-ports <ports>', 'inbound ports never captured (15090,15021,15020,15008 and the proxy ports always are)')
    .option('-i, --include-outbound-cidrs <cidrs>', "outbound destinations to capture: '*' (default) or CIDRs; '' captures none")
    .option('-x, --exclude-outbound-cidrs <cidrs>', 'outbound destinations never captured')
    .option('-o, --exclude-outbound-ports <ports>', 'outbound destination ports never captured')
    .option('-q, --include-outbound-ports <ports>', 'outbound destination ports captured whatever the destination')
    .option('-c, --exclude-interfaces <names>', 'interfaces whose traffic is never captured (eth1,veth+)')
    .option('-t, --mark <mark>', 'capture mark: TPROXY mark and policy-route fwmark (default 0x539)')
    .option('--bypass-mark <mark>', "SO_MARK of the proxy's own sockets, never captured (default 0x53a)")
    .option('-r, --route-table <n>', 'policy routing table for TPROXY (default 133)')
    .option('-u, --proxy-uid <uids>', "user ids whose traffic is the proxy's (Istio compatibility; default none)")
    .option('-g, --proxy-gid <gids>', "group ids whose traffic is the proxy's (Istio compatibility; default none)")
    .option('--backend <backend>', 'auto (default), nft, iptables, iptables-legacy or iptables-nft')
    .option('--no-preserve-source', 'do not route app replies back to the proxy (the proxy connects from 127.0.0.6 / ::6)')
    .option('--no-notrack', 'do not add the raw-table notrack rules for captured flows')
    .option('--ipv6', 'capture IPv6 too (default: when the namespace has a global IPv6 address)')
    .option('--no-ipv6', 'leave IPv6 alone')
    .option('-n, --dry-run', 'print the rules and commands, change nothing');
}

export function namespaceDeps(): CaptureDeps {
  return { runner: new ProcessRunner(), nft: addonNftRunner(addon), files: procFiles, state: new FileStateStore() };
}
