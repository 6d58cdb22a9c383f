/**
 * HAProxy (Debian's package) as the sidecar of both pods under the same conntrack-free TPROXY capture as sidelane:
 * `sidelane init --outbound tproxy -u 1337 --no-preserve-source` (HAProxy has no connect() hook and, in 2.6, no
 * way to mark its sockets, so its traffic is excluded by uid, as Istio excludes Envoy), and HAProxy run as uid 1337
 * with just CAP_NET_ADMIN/CAP_NET_RAW (transparent sockets) through setpriv.
 *
 * Why without source preservation: the reply rule of DESIGN 3.2 diverts packets leaving from a captured inbound
 * port unless they carry the bypass mark or belong to the proxy's uid. A connection accepted by the kernel but not
 * yet accept()ed by HAProxy has no owner, so the ACK of a request that arrives right after the handshake is
 * diverted and the connection reset (seen as ~95% failed new connections under churn). sidelane is immune because
 * its listener carries the bypass SO_MARK, which accepted sockets inherit from birth; HAProxy 2.6 can only mark a
 * connection after accept(). So HAProxy connects to the app from 127.0.0.6, Istio's default.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MAX_IDLE_CONNECTIONS, type ModeName } from '../settings';
import { haproxyConfig, type HaproxyProtocol } from './haproxy-config';
import { modeSlug, PROXY_UID, type BenchMode, type ModeEnvironment, type PodPair, type RunningMode } from './mode';
import { INBOUND_PORT, OUTBOUND_PORT, SidecarPair } from './sidecar-pair';

const CAPS = '+net_admin,+net_raw';

/** The capture HAProxy runs under (the same recipe as sidelane's, uid-excluded, no source preservation). */
export const HAPROXY_INIT_ARGS: readonly string[] = ['--outbound', 'tproxy', '--proxy-uid', String(PROXY_UID), '--no-preserve-source'];

export function haproxyArgv(configFile: string): string[] {
  return [
    'setpriv',
    `--reuid=${PROXY_UID}`,
    `--regid=${PROXY_UID}`,
    '--clear-groups',
    `--inh-caps=${CAPS}`,
    `--ambient-caps=${CAPS}`,
    'haproxy',
    '-f',
    configFile,
    '-db',
  ];
}

export function haproxyMode(name: ModeName, protocol: HaproxyProtocol, description: string): BenchMode {
  return {
    name,
    description,
    async start(pods: PodPair, env: ModeEnvironment): Promise<RunningMode> {
      const dir = path.join(env.workDir, modeSlug(name));
      mkdirSync(dir, { recursive: true });
      const configFile = path.join(dir, 'haproxy.cfg');
      writeFileSync(
        configFile,
        haproxyConfig({ protocol, threads: env.settings.concurrency, maxConnections: MAX_IDLE_CONNECTIONS + 200, inboundPort: INBOUND_PORT, outboundPort: OUTBOUND_PORT }),
      );
      const pair = await SidecarPair.start(pods, env, { name: `haproxy (${name})`, initArgs: HAPROXY_INIT_ARGS, argv: () => haproxyArgv(configFile) });
      return {
        name,
        pods,
        get sidecars() {
          return pair.sidecars;
        },
        clientArgv: (argv) => [...argv],
        fault: () => pair.fault(),
        restartSidecars: () => pair.restart(),
        stop: () => pair.stop(),
      };
    },
  };
}
