/**
 * `sidelane run`: the proxy. A supervisor process forks `--concurrency` workers (each with the inbound 15006 and
 * outbound 15001 listeners on shared SO_REUSEPORT sockets and the routing core) and serves the admin API (15000),
 * health (15021) and Prometheus metrics (15090); SIGHUP reloads the configuration, SIGTERM drains.
 */
import type { Command } from 'commander';
import { LOG_LEVELS, type LogLevel } from '../../telemetry/log-level';
import type { WorkerSettings } from '../../sidecar/ipc';
import { parseChoice, parseCount, parseDuration, parseFilePath, parseMark, parsePort, requireDistinctPorts } from '../options';
import { UsageError } from '../../errors';
import { shown } from '../../capture/validation';
import { DATA_PATHS } from '../../transport/data-path';
import { packageVersion } from './version';
import { addon } from '../../native/addon';
import { describeCredentials, parseUserSpec, readCredentials, reducePrivileges, requiredCapabilities, unprivilegedPortStart } from '../../sidecar/privileges';

// The proxy's own modules (~300, most of the start-up time) load only after the privilege step, which may
// re-execute the command: loading them twice would double the start-up.
/* eslint-disable @typescript-eslint/no-require-imports */
const configLoader = (): typeof import('../../config/loader') => require('../../config/loader') as typeof import('../../config/loader');
const supervisorModule = (): typeof import('../../sidecar/supervisor') => require('../../sidecar/supervisor') as typeof import('../../sidecar/supervisor');
/* eslint-enable @typescript-eslint/no-require-imports */

interface RunFlags {
  config?: string;
  concurrency: string;
  inboundPort: string;
  outboundPort: string;
  captureMode: string;
  bypassMark: string | false;
  user?: string;
  preserveSource: boolean;
  ipv6: boolean;
  connectTimeout: string;
  idleTimeout: string;
  proxyHeaderTimeout: string;
  requestHeadersTimeout: string;
  adminPort: string;
  admin: boolean;
  healthPort: string;
  health: boolean;
  metricsPort: string;
  metrics: boolean;
  drainTime: string;
  logLevel: string;
  accessLog: string;
  meshCluster: string;
  dataPath: string;
}

function parseAnyPort(flag: string, value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new UsageError(`${flag}: expected a port number 0-65535, got ${shown(value)}`);
  return Number(value);
}

function parseAccessLog(value: string): string {
  return value === '-' || value === 'off' ? value : parseFilePath('--access-log', value, "'-' (stdout), 'off' or a file path");
}

/** Istio's cluster id ends up in metric labels (source_cluster): a Kubernetes label value. */
function parseClusterId(value: string): string {
  if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(value)) {
    throw new UsageError(`--mesh-cluster: expected a cluster id (1-63 of A-Z a-z 0-9 . _ -, starting and ending with a letter or digit), got ${shown(value)}`);
  }
  return value;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the proxy: inbound listener (15006), outbound listener (15001), routing, admin API (15000), health (15021), metrics (15090)')
    .option('--config <file>', 'routing configuration (YAML or JSON; docs/config.md); reloaded on SIGHUP and on change')
    .option('--concurrency <n>', 'worker processes sharing the listeners (SO_REUSEPORT)', '2')
    .option('--inbound-port <port>', 'inbound listener port', '15006')
    .option('--outbound-port <port>', 'outbound listener port', '15001')
    .option('--capture-mode <mode>', 'how traffic reaches the proxy: tproxy (local address is the destination) or redirect (SO_ORIGINAL_DST)', 'tproxy')
    .option('--bypass-mark <mark>', "SO_MARK on the proxy's own sockets (capture skips it)", '0x53a')
    .option('--no-bypass-mark', "put no SO_MARK on the proxy's sockets: capture must tell them apart by owner (init -u/-g, Istio's way)")
    .option('--user <uid[:gid]>', 'run as this user and group (numeric; GID defaults to UID), e.g. 1337 as Istio; started as root, it switches after start-up checks')
    .option('--no-preserve-source', 'connect to the local app from 127.0.0.6/::6 instead of the client address')
    .option('--no-ipv6', 'do not listen on IPv6')
    .option('--connect-timeout <duration>', 'upstream connect timeout where the config sets no defaults.connectTimeout', '10s')
    .option('--idle-timeout <duration>', 'idle timeout (TCP, upstream keep-alive) where the config sets no defaults.idleTimeout', '1h')
    .option('--proxy-header-timeout <duration>', "deadline for a hooked connection's PROXY v2 header on the outbound listener", '3s')
    .option('--request-headers-timeout <duration>', 'an HTTP request must deliver its complete header section within this (408 otherwise; slowloris bound); 0 = none', '10s')
    .option('--admin-port <port>', 'admin API port on 127.0.0.1 (0 = any free port)', '15000')
    .option('--no-admin', 'do not serve the admin API')
    .option('--health-port <port>', 'health port: GET /healthz/ready (all addresses)', '15021')
    .option('--no-health', 'do not serve the health port')
    .option('--metrics-port <port>', 'Prometheus port: GET /stats/prometheus (all addresses)', '15090')
    .option('--no-metrics', 'do not serve the metrics port')
    .option('--drain-time <duration>', 'on SIGTERM: how long open connections may take to finish', '5s')
    .option('--log-level <level>', `proxy log level (${LOG_LEVELS.join(', ')}); access logs are written at info`, 'info')
    .option('--access-log <dest>', "access log: '-' stdout, 'off', or a file path", '-')
    .option('--mesh-cluster <name>', "cluster id for Istio's source_cluster/destination_cluster labels", 'Kubernetes')
    .option('--data-path <path>', 'native: native acceptor and splice relay for TCP (no net.Socket per proxied connection); js: net.Server and the JavaScript relay (the fallback)', 'native')
    .action(async (flags: RunFlags) => {
      const settings: WorkerSettings = {
        sidecar: {
          inboundPort: parsePort('--inbound-port', flags.inboundPort),
          outboundPort: parsePort('--outbound-port', flags.outboundPort),
          captureMode: parseChoice('--capture-mode', flags.captureMode, ['tproxy', 'redirect'] as const),
          bypassMark: flags.bypassMark === false ? 0 : parseMark('--bypass-mark', flags.bypassMark),
          ipv6: flags.ipv6,
          reusePort: true,
          // 0 would refuse every hooked connection whose header did not come with the handshake.
          proxyHeaderTimeoutMs: parseDuration('--proxy-header-timeout', flags.proxyHeaderTimeout, 1),
          dataPath: parseChoice('--data-path', flags.dataPath, DATA_PATHS),
        },
        // Under REDIRECT the app's replies to a client address would leave the pod (no TPROXY reply rule, DESIGN
        // 3.2): the baseline connects from 127.0.0.6 / ::6, as Istio does.
        preserveSource: flags.preserveSource && flags.captureMode !== 'redirect',
        connectTimeoutMs: parseDuration('--connect-timeout', flags.connectTimeout),
        idleTimeoutMs: parseDuration('--idle-timeout', flags.idleTimeout),
        requestHeadersTimeoutMs: parseDuration('--request-headers-timeout', flags.requestHeadersTimeout),
        logLevel: parseChoice('--log-level', flags.logLevel, LOG_LEVELS) as LogLevel,
        accessLog: parseAccessLog(flags.accessLog),
        meshCluster: parseClusterId(flags.meshCluster),
      };
      const concurrency = parseCount('--concurrency', flags.concurrency, 1, 64);
      const adminPort = flags.admin ? parseAnyPort('--admin-port', flags.adminPort) : undefined;
      const healthPort = flags.health ? parseAnyPort('--health-port', flags.healthPort) : undefined;
      const metricsPort = flags.metrics ? parseAnyPort('--metrics-port', flags.metricsPort) : undefined;
      const drainTimeMs = parseDuration('--drain-time', flags.drainTime);
      // Two listeners on one port would share it through SO_REUSEPORT (inbound and outbound connections mixed) or
      // fail to bind at run time: refused here, before anything starts.
      requireDistinctPorts([
        ['--inbound-port', settings.sidecar.inboundPort],
        ['--outbound-port', settings.sidecar.outboundPort],
        ['--admin-port', adminPort],
        ['--health-port', healthPort],
        ['--metrics-port', metricsPort],
      ]);
      const configFile = flags.config !== undefined ? parseFilePath('--config', flags.config) : undefined;
      const user = flags.user !== undefined ? parseUserSpec('--user', flags.user) : undefined;

      // Keep only what the proxy needs from here on (docs/cli.md#privileges). The flags are valid, nothing is bound
      // yet: when capabilities must go or the user changes, this re-executes the command and does not return.
      const ports = [settings.sidecar.inboundPort, settings.sidecar.outboundPort, adminPort ?? 0, healthPort ?? 0, metricsPort ?? 0];
      const credentials = reducePrivileges(
        { user, keep: requiredCapabilities(ports, unprivilegedPortStart()) },
        {
          credentials: () => readCredentials(),
          reduceAndExec: (o) => addon().reduceAndExec(o),
          setNoNewPrivs: () => addon().setNoNewPrivs(),
          env: process.env,
          argv: [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
        },
      );
      // An invalid configuration at start-up is a ConfigError: one line, exit 2 (DESIGN 8). Read as the user the
      // proxy runs as, so a file that user cannot read fails here and not at the first reload.
      const { loadConfigFile, EMPTY_CONFIG } = configLoader();
      const config = configFile !== undefined ? loadConfigFile(configFile) : EMPTY_CONFIG;
      const { Supervisor } = supervisorModule();

      const supervisor = new Supervisor({
        settings,
        concurrency,
        config,
        configFile: flags.config,
        adminPort,
        healthPort,
        metricsPort,
        drainTimeMs,
        version: packageVersion(),
      });
      await supervisor.start();
      const o = settings.sidecar;
      process.stderr.write(
        `sidelane: listening inbound :${o.inboundPort} outbound :${o.outboundPort} (${o.captureMode}), ${concurrency} workers, ${o.dataPath} data path` +
          `${supervisor.adminPort !== undefined ? `, admin 127.0.0.1:${supervisor.adminPort}` : ''}` +
          `${healthPort !== undefined ? `, health :${healthPort}` : ''}${metricsPort !== undefined ? `, metrics :${metricsPort}` : ''}` +
          `, config ${flags.config ?? 'defaults'}, ${describeCredentials(credentials)}\n`,
      );
      process.exitCode = await supervisor.exited;
    });
}
