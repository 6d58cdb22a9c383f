/** The list of subcommands, in the order `sidelane --help` shows them. */
import type { Command } from 'commander';
import { registerVersion } from './version';
import { registerHookPath } from './hook-path';
import { registerRun } from './run';
import { registerProxyConfig } from './proxy-config';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: readonly RegisterCommand[] = [registerRun, registerProxyConfig, registerHookPath, registerVersion];
