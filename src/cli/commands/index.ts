/**
 * The list of subcommands, in the order `sidelane --help` shows them (DESIGN 8). One line each. A command's module
 * is loaded only when that command runs (or for help): `sidelane exec` and `sidelane init` start in a tenth of the
 * time it takes to load the proxy's ~300 modules, which matters for every hooked app and every init container.
 */
import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

export interface CommandEntry {
  /** The command's name and aliases, as typed on the command line. */
  readonly names: readonly string[];
  readonly load: () => RegisterCommand;
}

/* eslint-disable @typescript-eslint/no-require-imports */
export const COMMANDS: readonly CommandEntry[] = [
  { names: ['init'], load: () => (require('./init') as typeof import('./init')).registerInit },
  { names: ['cleanup'], load: () => (require('./cleanup') as typeof import('./cleanup')).registerCleanup },
  { names: ['capture'], load: () => (require('./capture') as typeof import('./capture')).registerCapture },
  { names: ['run'], load: () => (require('./run') as typeof import('./run')).registerRun },
  { names: ['config'], load: () => (require('./config') as typeof import('./config')).registerConfig },
  { names: ['proxy-config', 'pc'], load: () => (require('./proxy-config') as typeof import('./proxy-config')).registerProxyConfig },
  { names: ['exec'], load: () => (require('./exec') as typeof import('./exec')).registerExec },
  { names: ['hook-path'], load: () => (require('./hook-path') as typeof import('./hook-path')).registerHookPath },
  { names: ['inject'], load: () => (require('./inject') as typeof import('./inject')).registerInject },
  { names: ['bench'], load: () => (require('./bench') as typeof import('./bench')).registerBench },
  { names: ['demo'], load: () => (require('./demo') as typeof import('./demo')).registerDemo },
  { names: ['version'], load: () => (require('./version') as typeof import('./version')).registerVersion },
];
