/**
 * The OS command runner: every external program (ip, iptables-restore, nft, curl …) is run through this interface,
 * so generators stay pure and tests can record calls instead of touching the machine (istio-iptables' habit).
 */
import { spawn } from 'node:child_process';
import { SidelaneError } from '../errors';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Text written to the command's stdin. */
  readonly input?: string;
  /** Resolve with a non-zero code instead of rejecting. */
  readonly allowFailure?: boolean;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

export interface CommandRunner {
  run(cmd: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

export class CommandError extends SidelaneError {
  readonly result: CommandResult;
  constructor(cmd: string, args: readonly string[], result: CommandResult) {
    const line = [cmd, ...args].join(' ');
    const detail = (result.stderr || result.stdout).trim().split('\n').slice(0, 6).join(' | ');
    super('SIDELANE_ERR_COMMAND', `\`${line}\` exited with ${result.code}${detail ? `: ${detail}` : ''}`, { cmd, args, code: result.code });
    this.result = result;
  }
}

/** Runs real processes. */
export class ProcessRunner implements CommandRunner {
  run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args as string[], { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      let timer: NodeJS.Timeout | undefined;
      if (options.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
      child.on('error', (err) => {
        if (timer) clearTimeout(timer);
        reject(new SidelaneError('SIDELANE_ERR_COMMAND', `cannot run ${cmd}: ${err.message}`, { cmd }, { cause: err }));
      });
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        const result = { code: code ?? (signal ? 128 : 1), stdout, stderr };
        if (result.code !== 0 && !options.allowFailure) reject(new CommandError(cmd, args, result));
        else resolve(result);
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input ?? '');
    });
  }
}

/** Records calls and answers from a script; for generator and orchestration tests. */
export class RecordingRunner implements CommandRunner {
  readonly calls: { cmd: string; args: readonly string[]; input?: string }[] = [];
  constructor(private readonly answer: (cmd: string, args: readonly string[]) => Partial<CommandResult> = () => ({})) {}
  async run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.calls.push({ cmd, args, ...(options.input !== undefined ? { input: options.input } : {}) });
    const a = this.answer(cmd, args);
    const result = { code: a.code ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
    if (result.code !== 0 && !options.allowFailure) throw new CommandError(cmd, args, result);
    return result;
  }
}
