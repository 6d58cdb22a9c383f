#!/usr/bin/env node
/**
 * The `sidelane` command line: commander wiring only. Each subcommand lives in commands/<name>.ts and does its
 * work through the modules it names; errors become one clear line on stderr and the exit codes of DESIGN 8.
 */
import { Command, CommanderError } from 'commander';
import { SidelaneError, describeError } from '../errors';
import { COMMANDS } from './commands';

/**
 * The program with every command, or — when `argv` names one — with just that command (its help and errors are
 * the same; only the other commands' modules are not loaded).
 */
export function buildProgram(argv?: readonly string[]): Command {
  const program = new Command();
  program
    .name('sidelane')
    .description('A sidecar proxy that captures traffic without conntrack or NAT (TPROXY inbound, connect() hook outbound).')
    .option('--verbose', 'print error details (stack, context)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const named = argv?.slice(2).find((a) => !a.startsWith('-'));
  const only = COMMANDS.find((c) => named !== undefined && c.names.includes(named));
  for (const entry of only ? [only] : COMMANDS) entry.load()(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram(argv);
  try {
    await program.parseAsync(argv as string[]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not failures; everything commander rejects is a usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return 0;
      return 2;
    }
    const verbose = program.opts<{ verbose?: boolean }>().verbose || argv.includes('--verbose');
    process.stderr.write(`sidelane: ${describeError(err)}\n`);
    if (verbose && err instanceof Error) {
      if (err instanceof SidelaneError) process.stderr.write(`${JSON.stringify({ code: err.code, ...err.context })}\n`);
      process.stderr.write(`${err.stack ?? ''}\n`);
    }
    return err instanceof SidelaneError ? err.exitCode : 1;
  }
}

if (require.main === module) {
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`sidelane: ${describeError(err)}\n`);
      process.exitCode = 1;
    },
  );
}
