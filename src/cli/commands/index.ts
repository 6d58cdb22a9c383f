/** The list of subcommands, in the order `sidelane --help` shows them (DESIGN 8). One line each. */
import type { Command } from 'commander';
import { registerInit } from './init';
import { registerCleanup } from './cleanup';
import { registerCapture } from './capture';
import { registerRun } from './run';
import { registerProxyConfig } from './proxy-config';
import { registerExec } from './exec';
import { registerHookPath } from './hook-path';
import { registerInject } from './inject';
import { registerDemo } from './demo';
import { registerVersion } from './version';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: readonly RegisterCommand[] = [
  registerInit,
  registerCleanup,
  registerCapture,
  registerRun,
  registerProxyConfig,
  registerExec,
  registerHookPath,
  registerInject,
  registerDemo,
  registerVersion,
];
