/** `sidelane run`: the proxy itself (listeners on 15006 and 15001, routing from --config, admin API on 15000). */
import type { Command } from 'commander';
import { NativeConnector } from '../../transport/connector';
import { InboundRouter } from '../../inbound/inbound-router';
import { OutboundRouter } from '../../outbound/outbound-router';
import { HttpConnectionManager } from '../../http/connection-manager';
import { Sidecar, type Listener } from '../../sidecar/sidecar';
import { RoutingState, type ApplyOutcome } from '../../sidecar/routing-state';
import { loadConfigFile, EMPTY_CONFIG } from '../../config/loader';
import { ConfigReloader } from '../../config/reload';
import { AdminServer } from '../../admin/admin-server';
import { registerRoutingEndpoints } from '../../admin/routing-endpoints';
import { systemClock } from '../../upstream/clock';
import { mathRandom } from '../../upstream/random-source';
import { parseChoice, parseDuration, parseMark, parsePort } from '../options';
import { UsageError } from '../../errors';

interface RunFlags {
  config?: string;
  inboundPort: string;
  outboundPort: string;
  captureMode: string;
  bypassMark: string;
  preserveSource: boolean;
  ipv6: boolean;
  connectTimeout: string;
  idleTimeout: string;
  adminPort: string;
  admin: boolean;
}

/** One line summarising what a configuration change did to the clusters. */
export function describeApply(o: ApplyOutcome): string {
  const c = o.clusters;
  return `version ${o.routing.version}; clusters: ${c.added.length} added, ${c.replaced.length} replaced, ${c.kept.length} kept, ${c.removed.length} removed`;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the proxy: inbound listener (15006), outbound listener (15001), routing, admin API (15000)')
    .option('--config <file>', 'routing configuration (YAML or JSON; docs/config.md); reloaded on SIGHUP and on change')
    .option('--inbound-port <port>', 'inbound listener port', '15006')
    .option('--outbound-port <port>', 'outbound listener port', '15001')
    .option('--capture-mode <mode>', 'how traffic reaches the proxy: tproxy (local address is the destination) or redirect (SO_ORIGINAL_DST)', 'tproxy')
    .option('--bypass-mark <mark>', "SO_MARK on the proxy's own sockets (capture skips it)", '0x53a')
    .option('--no-preserve-source', 'connect to the local app from 127.0.0.6/::6 instead of the client address')
    .option('--no-ipv6', 'do not listen on IPv6')
    .option('--connect-timeout <duration>', 'upstream connect timeout where the config sets no defaults.connectTimeout', '10s')
    .option('--idle-timeout <duration>', 'idle timeout (TCP, upstream keep-alive) where the config sets no defaults.idleTimeout', '1h')
    .option('--admin-port <port>', 'admin API port on 127.0.0.1 (0 = any free port)', '15000')
    .option('--no-admin', 'do not serve the admin API')
    .action(async (flags: RunFlags) => {
      const options = {
        inboundPort: parsePort('--inbound-port', flags.inboundPort),
        outboundPort: parsePort('--outbound-port', flags.outboundPort),
        captureMode: parseChoice('--capture-mode', flags.captureMode, ['tproxy', 'redirect'] as const),
        bypassMark: parseMark('--bypass-mark', flags.bypassMark),
        ipv6: flags.ipv6,
        reusePort: true,
      };
      const connectTimeoutMs = parseDuration('--connect-timeout', flags.connectTimeout);
      const idleTimeoutMs = parseDuration('--idle-timeout', flags.idleTimeout);
      if (!/^\d{1,5}$/.test(flags.adminPort) || Number(flags.adminPort) > 65535) {
        throw new UsageError(`--admin-port: expected a port number 0-65535, got '${flags.adminPort}'`);
      }
      const adminPort = Number(flags.adminPort);

      // An invalid configuration at start-up is a ConfigError: one line, exit 2 (DESIGN 8).
      const config = flags.config !== undefined ? loadConfigFile(flags.config) : EMPTY_CONFIG;
      const source = flags.config ?? 'defaults';

      const connector = new NativeConnector();
      const clock = systemClock;
      const random = mathRandom;
      const state = new RoutingState(
        { connector, clock, random, bypassMark: options.bypassMark },
        { preserveSource: flags.preserveSource, connectTimeoutMs, idleTimeoutMs, inboundPort: options.inboundPort, outboundPort: options.outboundPort },
      );
      state.apply(config, source, 'startup');

      const reloader =
        flags.config !== undefined
          ? new ConfigReloader({
              file: flags.config,
              apply: (cfg, trigger) => describeApply(state.apply(cfg, source, trigger)),
              refused: (message, trigger) => state.refused(message, source, trigger),
            })
          : undefined;

      const extra: Listener[] = [];
      let admin: AdminServer | undefined;
      if (flags.admin) {
        admin = new AdminServer({ port: adminPort });
        registerRoutingEndpoints(admin, state, reloader ? { reload: () => reloader.reload('admin') } : {});
        extra.push(admin);
      }

      const outboundHttp = new HttpConnectionManager({ direction: 'outbound', routing: state, clock, random, idleTimeoutMs });
      const inboundHttp = new HttpConnectionManager({ direction: 'inbound', routing: state, clock, random, idleTimeoutMs });
      const sidecar = new Sidecar(
        options,
        connector,
        {
          inbound: new InboundRouter(state, { connector, http: inboundHttp, random }),
          outbound: new OutboundRouter(state, { connector, http: outboundHttp, random }),
        },
        extra,
      );
      await sidecar.start();
      reloader?.start();
      process.stderr.write(
        `sidelane: listening inbound :${options.inboundPort} (${options.captureMode})` +
          `${admin ? `, admin 127.0.0.1:${admin.port}` : ''}, config ${source} (version ${state.current.version})\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          reloader?.stop();
          void sidecar.stopAccepting().then(resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
}
