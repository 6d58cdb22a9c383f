/**
 * Processes the benchmark runs inside pods: long-lived daemons (servers, sidecars) and bounded commands (load
 * generators). Both are started with Pod.spawn, so the lab knows every pid and kills them on destroy, Ctrl-C or
 * failure; a command that overruns its deadline is stopped (SIGTERM, then SIGKILL) instead of hanging the run.
 */
import type { ChildProcess } from 'node:child_process';
import { SidelaneError } from '../errors';
import { stopProcess, type Pod } from '../netns/lab';
import { processTree } from './process-usage';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const TAIL_BYTES = 4096;

/** Keeps the last few KiB of a stream (for error messages) without buffering a chatty daemon's whole output. */
class Tail {
  private text = '';
  push(chunk: string): void {
    this.text = (this.text + chunk).slice(-TAIL_BYTES);
  }
  toString(): string {
    return this.text;
  }
}

export class Daemon {
  private readonly stderr = new Tail();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    readonly pod: Pod,
    readonly child: ChildProcess,
  ) {
    child.stderr?.setEncoding('utf8').on('data', (d: string) => this.stderr.push(d));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The daemon's pid; `ip netns exec` execs the command, so this is the daemon itself, not a wrapper. */
  get pid(): number {
    if (this.child.pid === undefined) throw new SidelaneError('SIDELANE_ERR_BENCH', `${this.name} in pod ${this.pod.name} did not start`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stderrTail(): string {
    return this.stderr.toString().trim();
  }

  /** A one-line description of why it is not running, for errors. */
  describeExit(): string {
    const how = this.child.signalCode ? `was killed by ${this.child.signalCode}` : `exited with ${String(this.child.exitCode)}`;
    const last = this.stderrTail().split('\n').slice(-3).join(' | ');
    return `${this.name} in pod ${this.pod.name} ${how}${last ? `: ${last}` : ''}`;
  }

  /**
   * SIGTERM (a sidelane supervisor drains, then its workers exit), SIGKILL after the grace period, and then the
   * processes it had started (workers) are waited for and, if still there, killed by pid: a restarted sidecar must
   * never share its SO_REUSEPORT listeners with a worker of the previous one.
   */
  async stop(graceMs = 8000): Promise<void> {
    const descendants = this.child.pid === undefined ? [] : processTree([this.child.pid]).filter((pid) => pid !== this.child.pid);
    await stopProcess(this.child, graceMs);
    const deadline = Date.now() + 3000;
    let left = descendants.filter(alive);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      left = left.filter(alive);
    }
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Starts a long-lived process in the pod; stdout is discarded (a busy access log must never block it). */
export function startDaemon(pod: Pod, name: string, argv: readonly string[], env?: NodeJS.ProcessEnv): Daemon {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new SidelaneError('SIDELANE_ERR_BENCH', `${name}: empty command line`);
  const child = pod.spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(env ? { env } : {}) });
  child.on('error', () => undefined); // reported through `exited` / describeExit
  return new Daemon(name, pod, child);
}

export interface PodCommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface PodCommandOptions {
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs a bounded command in the pod and collects its output. */
export function runInPod(pod: Pod, argv: readonly string[], options: PodCommandOptions): Promise<PodCommandResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new SidelaneError('SIDELANE_ERR_BENCH', 'empty command line'));
  return new Promise((resolve, reject) => {
    const child = pod.spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(options.env ? { env: options.env } : {}) });
    let stdout = '';
    const stderr = new Tail();
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void stopProcess(child, 2000);
    }, options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new SidelaneError('SIDELANE_ERR_BENCH', `cannot run ${cmd} in pod ${pod.name}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr: stderr.toString(), timedOut });
    });
  });
}

/** Like runInPod, but a non-zero exit or a timeout is an error naming the command and its last stderr line. */
export async function runInPodChecked(pod: Pod, argv: readonly string[], options: PodCommandOptions): Promise<PodCommandResult> {
  const r = await runInPod(pod, argv, options);
  if (r.timedOut || r.code !== 0) {
    const detail = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ');
    const what = r.timedOut ? `did not finish within ${options.timeoutMs} ms` : `exited with ${r.code}`;
    throw new SidelaneError('SIDELANE_ERR_BENCH', `\`${argv.join(' ')}\` in pod ${pod.name} ${what}${detail ? `: ${detail}` : ''}`, {
      pod: pod.name,
      code: r.code,
    });
  }
  return r;
}
