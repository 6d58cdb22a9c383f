/**
 * `sidelane exec [flags] -- CMD ARGS…`: runs CMD with libsidelane_hook.so preloaded (appended to any LD_PRELOAD)
 * and the hook's SIDELANE_* settings from the flags, forwards signals to it, and exits with its exit code
 * (128 + signal number when it was killed by a signal; 127 when CMD cannot be found, 126 when it cannot be run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Command } from 'commander';
import { UsageError } from '../../errors';
import {
  hookEnvironment,
  parseCidrList,
  parseIncludeCidrs,
  parsePort,
  parsePortList,
  parseProxyDownPolicy,
  withPreload,
  type HookSettings,
} from '../../hook/environment';
import { hookLibraryPath } from './hook-path';

interface ExecFlags {
  outboundPort?: string;
  excludeCidrs?: string;
  excludePorts?: string;
  includeCidrs?: string;
  proxyPorts?: string;
  onProxyDown?: string;
  hookLog?: boolean;
}

/** Flags → validated settings; the first bad value is a UsageError naming the flag (exit 2). */
export function execSettings(flags: ExecFlags): HookSettings {
  return {
    ...(flags.outboundPort !== undefined ? { outboundPort: parsePort(flags.outboundPort, '--outbound-port') } : {}),
    ...(flags.excludeCidrs !== undefined ? { excludeCidrs: parseCidrList(flags.excludeCidrs, '--exclude-cidrs') } : {}),
    ...(flags.excludePorts !== undefined ? { excludePorts: parsePortList(flags.excludePorts, '--exclude-ports') } : {}),
    ...(flags.includeCidrs !== undefined ? { includeCidrs: parseIncludeCidrs(flags.includeCidrs, '--include-cidrs') } : {}),
    ...(flags.proxyPorts !== undefined ? { proxyPorts: parsePortList(flags.proxyPorts, '--proxy-ports') } : {}),
    ...(flags.onProxyDown !== undefined ? { onProxyDown: parseProxyDownPolicy(flags.onProxyDown, '--on-proxy-down') } : {}),
    ...(flags.hookLog ? { log: true } : {}),
  };
}

/** Signals a supervisor passes on (SIGKILL/SIGSTOP cannot be caught; SIGCHLD/SIGPIPE are about us, not the child). */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'];

/** Runs the command to completion; resolves with the exit code sidelane should exit with. */
export function runHooked(command: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [file, ...args] = command;
  if (file === undefined) throw new UsageError('exec: expected a command after --, e.g. sidelane exec -- curl http://example');
  return new Promise((resolve) => {
    // Handlers go in before the child exists: a signal in between would otherwise kill sidelane with the default
    // action and orphan the child. One that arrives before spawn() returns is delivered right after it.
    let child: ChildProcess | undefined;
    const early: NodeJS.Signals[] = [];
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const sig of FORWARDED) {
      const h = (): void => {
        if (child === undefined) early.push(sig);
        else if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      };
      handlers.set(sig, h);
      process.on(sig, h);
    }
    const detach = (): void => {
      for (const [sig, h] of handlers) process.off(sig, h);
    };
    child = spawn(file, args, { stdio: 'inherit', env });
    for (const sig of early) child.kill(sig);
    child.once('error', (err: NodeJS.ErrnoException) => {
      detach();
      const notFound = err.code === 'ENOENT';
      process.stderr.write(`sidelane: exec: cannot run ${file}: ${notFound ? 'command not found' : err.message}\n`);
      resolve(notFound ? 127 : 126);
    });
    child.once('exit', (code, signal) => {
      detach();
      if (code !== null) resolve(code);
      else resolve(128 + (signal ? (osConstants.signals[signal] ?? 0) : 0));
    });
  });
}

export function registerExec(program: Command): void {
  program
    .command('exec')
    .description('run a command with the connect() hook preloaded: its outbound TCP goes through the outbound listener')
    .argument('<command...>', 'the command and its arguments, after -- (e.g. sidelane exec -- curl -v http://svc)')
    .option('--outbound-port <port>', 'port of the outbound listener (hook default 15001)')
    .option('--exclude-cidrs <list>', 'destinations left alone, comma-separated CIDRs (v4 and v6)')
    .option('--exclude-ports <list>', 'destination ports left alone, e.g. 22,8000-8100')
    .option('--include-cidrs <list>', "only these destinations are redirected (default '*': all)")
    .option('--proxy-ports <list>', "the proxy's own ports, never redirected (hook default 15000,15001,15006,15008,15020,15021,15090)")
    .option('--on-proxy-down <policy>', 'when the listener refuses: wait:<ms>, open (connect directly) or closed (ECONNREFUSED); hook default wait:5000')
    .option('--hook-log', 'the hook writes one diagnostic line per decision to stderr')
    .action(async (command: string[], flags: ExecFlags) => {
      const settings = execSettings(flags);
      const library = hookLibraryPath();
      const env: NodeJS.ProcessEnv = { ...process.env, ...hookEnvironment(settings), LD_PRELOAD: withPreload(process.env.LD_PRELOAD, library) };
      process.exitCode = await runHooked(command, env);
    });
}
