/** `sidelane run`: the proxy itself (listeners on 15006 and 15001, routing, admin). */
import type { Command } from 'commander';
import { NativeConnector } from '../../transport/connector';
import { InboundPassthrough } from '../../inbound/passthrough';
import { OutboundPassthrough } from '../../outbound/passthrough';
import { Sidecar } from '../../sidecar/sidecar';
import { parseChoice, parseDuration, parseMark, parsePort } from '../options';

interface RunFlags {
  inboundPort: string;
  outboundPort: string;
  captureMode: string;
  bypassMark: string;
  preserveSource: boolean;
  ipv6: boolean;
  connectTimeout: string;
  idleTimeout: string;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the proxy: inbound listener (15006), outbound listener (15001), routing')
    .option('--inbound-port <port>', 'inbound listener port', '15006')
    .option('--outbound-port <port>', 'outbound listener port', '15001')
    .option('--capture-mode <mode>', 'how traffic reaches the proxy: tproxy (local address is the destination) or redirect (SO_ORIGINAL_DST)', 'tproxy')
    .option('--bypass-mark <mark>', "SO_MARK on the proxy's own sockets (capture skips it)", '0x53a')
    .option('--no-preserve-source', 'connect to the local app from 127.0.0.6/::6 instead of the client address')
    .option('--no-ipv6', 'do not listen on IPv6')
    .option('--connect-timeout <duration>', 'upstream connect timeout', '10s')
    .option('--idle-timeout <duration>', 'TCP idle timeout (no bytes either way)', '1h')
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
      const connector = new NativeConnector();
      const sidecar = new Sidecar(options, connector, {
        inbound: new InboundPassthrough(connector, {
          preserveSource: flags.preserveSource,
          bypassMark: options.bypassMark,
          connectTimeoutMs,
          idleTimeoutMs,
        }),
        outbound: new OutboundPassthrough(connector, { bypassMark: options.bypassMark, connectTimeoutMs, idleTimeoutMs }),
      });
      await sidecar.start();
      process.stderr.write(`sidelane: listening inbound :${options.inboundPort} (${options.captureMode})\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void sidecar.stopAccepting().then(resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
}
