/** The list of subcommands, in the order `sidelane --help` shows them. */
import type { Command } from 'commander';
import { registerExec } from './exec';
import { registerVersion } from './version';
import { registerHookPath } from './hook-path';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: readonly RegisterCommand[] = [registerExec, registerHookPath, registerVersion];
