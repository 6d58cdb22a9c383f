/** The list of subcommands, in the order `sidelane --help` shows them (DESIGN 8). One line each. */
import type { Command } from 'commander';
import { registerRun } from './run';
import { registerHookPath } from './hook-path';
import { registerInject } from './inject';
import { registerVersion } from './version';
import { registerBench } from './bench';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: readonly RegisterCommand[] = [
  registerRun,
  registerHookPath,
  registerInject,
  registerBench,
  registerVersion,
];
