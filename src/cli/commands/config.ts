/**
 * `sidelane config check FILE`: validates a configuration file exactly as `sidelane run --config` and a reload do,
 * without starting anything — for CI and for a ConfigMap before it reaches a pod (as `istioctl validate`, or Envoy's
 * `--mode validate`). Valid: a one-line summary, exit 0; invalid: the loader's one line naming the file, line, path
 * and what was expected, exit 2.
 */
import type { Command } from 'commander';
import { loadConfigFile } from '../../config/loader';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('work with configuration files without running the proxy');
  config
    .command('check')
    .description('validate a configuration file (YAML or JSON) as `run --config` would; exit 0 when valid, 2 when not')
    .argument('<file>', 'the configuration file')
    .action((file: string) => {
      const c = loadConfigFile(file);
      const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
      process.stdout.write(
        `config ${file}: valid (${count(c.services?.length ?? 0, 'service')}, ${count(c.routes?.length ?? 0, 'route rule')}, ` +
          `${count(c.inbound?.ports?.length ?? 0, 'inbound port')}, outbound ${c.outboundTrafficPolicy ?? 'ALLOW_ANY'})\n`,
      );
    });
}
