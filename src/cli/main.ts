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
    .exitOverride();
  const named = argv?.slice(2).find((a) => !a.startsWith('-'));
  const only = COMMANDS.find((c) => named !== undefined && c.names.includes(named));
  for (const entry of only ? [only] : COMMANDS) entry.load()(program);
  oneLineErrors(program, 'sidelane');
  return program;
}

/**
 * What commander itself refuses (an unknown flag, a missing value, a missing argument) is said like every other usage
 * error (DESIGN 8): one line on stderr, `sidelane: <what>`, with where the flags are listed — commander's own format
 * is an `error:` line plus a "did you mean" line plus a help hint line.
 */
function oneLineErrors(cmd: Command, commandPath: string): void {
  cmd.showHelpAfterError(false);
  cmd.configureOutput({
    outputError: (text, write) => {
      const lines = text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '');
      const [first = 'invalid usage', ...rest] = lines;
      const hints = rest.map((l) => ` ${l.replace(/^\(Did you mean/, '(did you mean')}`).join('');
      write(`sidelane: ${first.replace(/^error: /, '')}${hints}; \`${commandPath} --help\` lists the usage\n`);
    },
  });
  for (const sub of cmd.commands) oneLineErrors(sub, `${commandPath} ${sub.name()}`);
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
