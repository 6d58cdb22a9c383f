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
  /** Everything the proxy wrote on stdout (the access log, one JSON line per entry). */
  stdout(): string;
  /** Resolves with the exit code once the proxy exited. */
  readonly exited: Promise<number | null>;
}

export interface StartProxyOptions {
  /** Run the proxy under this open-file limit (`ulimit -n`), as a container with a low nofile limit would. */
  readonly fileLimit?: number;
}

/** Starts `sidelane run ARGS` in the pod and resolves once it printed its listening line. */
export function startProxy(pod: Pod, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}, options: StartProxyOptions = {}): Promise<RunningProxy> {
  const child =
    options.fileLimit === undefined
      ? pod.spawn('node', [CLI, 'run', ...args], { env: { ...process.env, ...env } })
      : pod.spawn('sh', ['-c', `ulimit -n ${options.fileLimit} && exec node "$@"`, 'sh', CLI, 'run', ...args], { env: { ...process.env, ...env } });
  let err = '';
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sidelane run did not start in ${pod.name}: ${err}`)), 20_000);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (err.includes('listening')) {
        clearTimeout(timer);
        resolve({ process: child, stderr: () => err, stdout: () => out, exited });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sidelane run exited with ${code} in ${pod.name}: ${err}`));
    });
  });
}

/** Starts a process in the pod and resolves when its stdout printed a line matching `ready`. */
export function startApp(pod: Pod, cmd: string, args: readonly string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const child = pod.spawn(cmd, args, { env: { ...process.env, ...env } });
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
export function echoServer(pod: Pod, specs: readonly (number | string)[], options: { log?: boolean; name?: string } = {}): Promise<ChildProcess> {
  const env = { ...(options.log ? { ECHO_LOG: '1' } : {}), ...(options.name ? { ECHO_NAME: options.name } : {}) };
  return startApp(pod, 'node', [path.join(APPS, 'echo-server.js'), ...specs.map(String)], /listening/, env);
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

/** Starts test/support/apps/http-echo in the pod; `specs` are `PORT` or `PORT:NAME`. */
export function httpEcho(pod: Pod, specs: readonly (number | string)[], options: { log?: boolean } = {}): Promise<ChildProcess> {
  return startApp(pod, 'node', [path.join(APPS, 'http-echo.js'), ...specs.map(String)], /listening/, options.log ? { HTTP_ECHO_LOG: '1' } : {});
}

/** The environment of a test process without any SIDELANE_* or LD_PRELOAD inherited from the runner. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIDELANE_') && k !== 'LD_PRELOAD'));
}

/** Runs CMD in the pod through `sidelane exec` (the hook preloaded); rejects when it fails. */
export async function execHooked(pod: Pod, command: readonly string[], hookArgs: readonly string[] = []): Promise<string> {
  const r = await pod.exec('node', [CLI, 'exec', ...hookArgs, '--', ...command], { env: cleanEnv(), timeoutMs: 60_000, allowFailure: true });
  if (r.code !== 0) throw new Error(`${command.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The Java client fixture (java.net.http.HttpClient), run as `java <file> URL`. */
export const JAVA_CLIENT = path.join(REPO, 'test/fixtures/clients/Get.java');
