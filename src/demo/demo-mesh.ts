/**
 * Stands the demo's mesh up and takes it down: one network namespace per planned pod, service names in every
 * pod's /etc/hosts, and in each pod what a Kubernetes pod with sidelane has — `sidelane init` (the init
 * container), `sidelane run --config` (the sidecar) and the app started through `sidelane exec` (its outbound
 * connections go through the connect() hook). Long-running processes are detached and write to log files, so a
 * kept mesh outlives the demo process.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { parseConfig } from '../config/loader';
import { SidelaneError } from '../errors';
import { Lab, type Pod } from '../netns/lab';
import { netnsInode } from '../netns/namespace-processes';
import type { DemoFiles } from './demo-files';
import type { MeshManifest } from './kube-manifest';
import { podConfig, renderConfig } from './mesh-config';
import { hostEntries, type MeshPlan, type PodPlan } from './mesh-plan';

export interface MeshPod {
  readonly plan: PodPlan;
  readonly pod: Pod;
  /** Inode of the pod's network namespace (what /proc/<pid>/ns/net of its processes points to). */
  readonly inode: number;
  readonly configFile: string;
  readonly sidecarLog: string;
  readonly appLog?: string;
}

export interface MeshOptions {
  readonly files: DemoFiles;
  readonly manifest: MeshManifest;
  readonly plan: MeshPlan;
  /** Parent of the run directory (`<runBase>/<lab id>/`: generated configs and logs). */
  readonly runBase: string;
  /** Called with the lab as soon as it exists (so an interrupt can remove it). */
  readonly created?: (lab: Lab, dir: string) => void;
  /** Progress lines for the reader. */
  readonly progress: (line: string) => void;
}

/** The environment of the pods' processes: nothing of a surrounding `sidelane exec` leaks in. */
export function podEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  // SIDELANE_STATE_DIR stays: init in the pods and the teardown here must agree on where capture state lives.
  return Object.fromEntries(Object.entries(env).filter(([k]) => (!k.startsWith('SIDELANE_') || k === 'SIDELANE_STATE_DIR') && k !== 'LD_PRELOAD'));
}

/** Resolves once `file` contains a match for `ready`; rejects when `child` exits first or after `timeoutMs`. */
export function waitForLog(file: string, ready: RegExp, child: ChildProcess, what: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tail = (): string => {
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      return text.trim().split('\n').slice(-3).join(' | ');
    };
    const check = (): void => {
      if (existsSync(file) && ready.test(readFileSync(file, 'utf8'))) return resolve();
      if (child.exitCode !== null || child.signalCode !== null) {
        return reject(new SidelaneError('SIDELANE_ERR_DEMO', `${what} exited (${child.exitCode ?? child.signalCode}) before it was ready: ${tail()}`));
      }
      if (Date.now() - started > timeoutMs) return reject(new SidelaneError('SIDELANE_ERR_DEMO', `${what} was not ready after ${timeoutMs} ms: ${tail()}`));
      setTimeout(check, 40);
    };
    check();
  });
}

export class DemoMesh {
  private constructor(
    readonly lab: Lab,
    readonly plan: MeshPlan,
    readonly pods: ReadonlyMap<string, MeshPod>,
    readonly dir: string,
    readonly files: DemoFiles,
  ) {}

  /** Creates every pod and starts everything; on any failure what was created is removed before rethrowing. */
  static async up(o: MeshOptions): Promise<DemoMesh> {
    const lab = await Lab.create({ prefix: 'demo', ipv6: false });
    const dir = path.join(o.runBase, lab.id);
    try {
      mkdirSync(dir, { recursive: true });
      o.created?.(lab, dir);
      const pods = new Map<string, MeshPod>();
      for (const p of o.plan.pods) {
        const pod = await lab.addPod(p.name, { index: p.index });
        const inode = netnsInode(pod.netns);
        if (inode === undefined) throw new SidelaneError('SIDELANE_ERR_DEMO', `namespace ${pod.netns} vanished right after it was created`);
        const configFile = path.join(dir, `${p.name}.yaml`);
        const text = renderConfig(podConfig(o.manifest, o.plan, p, 'bookinfo'), p, o.files.manifests.map((m) => path.relative(o.files.root, m)));
        // The generated file goes through the loader `sidelane run` uses: a generator bug is reported here, by file.
        parseConfig(text, configFile);
        writeFileSync(configFile, text);
        pods.set(p.name, {
          plan: p,
          pod,
          inode,
          configFile,
          sidecarLog: path.join(dir, `${p.name}.sidecar.log`),
          ...(p.app ? { appLog: path.join(dir, `${p.name}.app.log`) } : {}),
        });
      }
      lab.setHosts(hostEntries(o.plan));
      o.progress(`created ${pods.size} pods (network namespaces ${lab.id}-*) and service names in their /etc/hosts`);
      const mesh = new DemoMesh(lab, o.plan, pods, dir, o.files);
      await Promise.all([...pods.values()].map((p) => mesh.startPod(p)));
      o.progress('every pod: sidelane init, sidelane run, app through sidelane exec — all ready');
      return mesh;
    } catch (err) {
      await lab.destroy();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Runs the sidelane CLI inside a pod, as a user would with `ip netns exec <ns> sidelane …`. */
  cli(podName: string, args: readonly string[], options: { allowFailure?: boolean; timeoutMs?: number } = {}) {
    return this.pod(podName).pod.exec(process.execPath, [this.files.cli, ...args], {
      env: podEnvironment(),
      timeoutMs: options.timeoutMs ?? 30_000,
      ...(options.allowFailure ? { allowFailure: true } : {}),
    });
  }

  pod(name: string): MeshPod {
    const p = this.pods.get(name);
    if (!p) throw new SidelaneError('SIDELANE_ERR_DEMO', `no pod ${name} in the demo mesh`);
    return p;
  }

  /** The pod that runs a given app (and version), e.g. ('reviews', 'v3'). */
  podFor(role: string, version?: string): MeshPod {
    const p = [...this.pods.values()].find((x) => x.plan.app?.role === role && (version === undefined || x.plan.app.version === version));
    if (!p) throw new SidelaneError('SIDELANE_ERR_DEMO', `no pod runs ${role}${version ? ` ${version}` : ''}`);
    return p;
  }

  private spawnLogged(p: MeshPod, log: string, args: readonly string[]): ChildProcess {
    const fd = openSync(log, 'a');
    try {
      // Detached (own session) and writing to a file: Ctrl-C reaches the demo, which tears down in order, and a
      // kept mesh does not depend on the demo's terminal or pipes.
      return p.pod.spawn(process.execPath, args, { stdio: ['ignore', fd, fd], detached: true, env: podEnvironment() });
    } finally {
      closeSync(fd);
    }
  }

  /** Per pod, how long each start-up phase took (ms): init, sidecar ready, app ready. */
  readonly startup = new Map<string, { initMs: number; sidecarMs: number; appMs: number }>();

  private async startPod(p: MeshPod): Promise<void> {
    const t0 = Date.now();
    const phase = { initMs: 0, sidecarMs: 0, appMs: 0 };
    this.startup.set(p.plan.name, phase);
    await p.pod.exec(process.execPath, [this.files.cli, 'init'], { env: podEnvironment(), timeoutMs: 30_000 });
    phase.initMs = Date.now() - t0;
    // One worker per sidecar: seven sidecars share the machine's cores (Istio's sidecars default to 2 threads).
    const sidecar = this.spawnLogged(p, p.sidecarLog, [this.files.cli, 'run', '--config', p.configFile, '--concurrency', '1']);
    await waitForLog(p.sidecarLog, /listening inbound/, sidecar, `the sidecar of ${p.plan.name}`);
    phase.sidecarMs = Date.now() - t0 - phase.initMs;
    const app = p.plan.app;
    if (!app || !p.appLog) return;
    const proc = this.spawnLogged(p, p.appLog, [this.files.cli, 'exec', '--', process.execPath, this.files.app, app.role, app.version, String(app.port)]);
    await waitForLog(p.appLog, /listening/, proc, `${app.role} ${app.version} in ${p.plan.name}`);
    phase.appMs = Date.now() - t0 - phase.initMs - phase.sidecarMs;
  }

  /** Stops every process, removes the namespaces, hosts files, capture state and the run directory. */
  async down(): Promise<void> {
    await this.lab.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
