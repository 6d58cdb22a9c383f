/** The list of subcommands, in the order `sidelane --help` shows them. */
import type { Command } from 'commander';
import { registerVersion } from './version';
import { registerHookPath } from './hook-path';
import { registerRun } from './run';
import { registerInit } from './init';
import { registerCleanup } from './cleanup';
import { registerCapture } from './capture';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: readonly RegisterCommand[] = [registerInit, registerCleanup, registerCapture, registerRun, registerHookPath, registerVersion];
