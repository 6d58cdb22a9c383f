/**
 * Test fixtures for a pod with sidelane: run `sidelane init` in it and start `sidelane run` there, waiting until
 * the proxy reports that its listeners are bound. Uses the real CLI, as a user would.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Pod } from '../../src/netns/lab';

export const REPO = path.resolve(__dirname, '../../..');
export const CLI = path.join(REPO, 'dist/src/cli/main.js');
export const APPS = path.join(REPO, 'dist/test/support/apps');

export async function init(pod: Pod, args: readonly string[] = []): Promise<void> {
  await pod.exec('node', [CLI, 'init', ...args]);
}

export interface RunningProxy {
  readonly process: ChildProcess;
  stderr(): string;
}

/** Starts `sidelane run ARGS` in the pod and resolves once it printed its listening line. */
export function startProxy(pod: Pod, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningProxy> {
  const child = pod.spawn('node', [CLI, 'run', ...args], { env: { ...process.env, ...env } });
  let err = '';
  child.stdout?.resume();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sidelane run did not start in ${pod.name}: ${err}`)), 15_000);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (err.includes('listening')) {
        clearTimeout(timer);
        resolve({ process: child, stderr: () => err });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sidelane run exited with ${code} in ${pod.name}: ${err}`));
    });
  });
}

/** Starts a process in the pod and resolves when its stdout printed a line matching `ready`. */
export function startApp(pod: Pod, cmd: string, args: readonly string[], ready: RegExp): Promise<ChildProcess> {
  const child = pod.spawn(cmd, args);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not become ready in ${pod.name}: ${out}`)), 15_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited with ${code} in ${pod.name}: ${out}`));
    });
  });
}

/** Starts test/support/apps/echo-server in the pod; `specs` are `PORT` or `PORT:MODE` (see that file). */
export function echoServer(pod: Pod, specs: readonly (number | string)[]): Promise<ChildProcess> {
  return startApp(pod, 'node', [path.join(APPS, 'echo-server.js'), ...specs.map(String)], /listening/);
}

export interface LoadSummary {
  ok: number;
  failed: number;
  peers: Record<string, number>;
  bytes: number;
  errors: string[];
}

/** Runs the tcp-load client in `pod` (optionally through `sidelane exec` for the hook) and returns its summary. */
export async function tcpLoad(
  pod: Pod,
  target: { host: string; port: number },
  n: number,
  concurrency: number,
  bytes: number,
  options: { hooked?: boolean } = {},
): Promise<LoadSummary> {
  const argv = [path.join(APPS, 'tcp-load.js'), target.host, String(target.port), String(n), String(concurrency), String(bytes)];
  const r = options.hooked ? await pod.exec('node', [CLI, 'exec', '--', 'node', ...argv]) : await pod.exec('node', argv);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as LoadSummary;
}
