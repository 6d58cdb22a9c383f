/**
 * A lab of "pods" as network namespaces (DESIGN 6): each pod has eth0 on a bridge inside a private "node"
 * namespace, addresses from 198.18.0.0/15 and 2001:db8::/32 only, a default route to the node (which routes
 * nowhere else), and everything — namespaces, processes — is removed by destroy(), also when a test fails.
 * Used by the e2e tests, `sidelane demo` and `sidelane bench`.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { FileStateStore } from '../capture/state';
import { SidelaneError } from '../errors';
import { ProcessRunner, type CommandResult, type RunOptions } from './command';
import { killAll, netnsInode, pidsInNamespaces, signalAll, waitGone } from './namespace-processes';

const runner = new ProcessRunner();

/** Node (bridge) addresses; pods get .10 upwards. */
const NODE_V4 = '198.18.0.1';
const NODE_V6 = '2001:db8::1';

export interface PodOptions {
  /** Host part inside 198.18.0.0/16 (default: next free from 10). */
  readonly index?: number;
  /** Give the pod an IPv6 address (default: the lab's ipv6 setting). */
  readonly ipv6?: boolean;
}

export interface LabOptions {
  /** Prefix of the namespace names (default "sl"); a random suffix is always added. */
  readonly prefix?: string;
  readonly ipv6?: boolean;
}

export class Pod {
  readonly processes = new Set<ChildProcess>();
  constructor(
    readonly lab: Lab,
    readonly name: string,
    readonly netns: string,
    readonly ipv4: string,
    readonly ipv6: string | undefined,
  ) {}

  /** Runs a command inside the pod and collects its output (rejects on non-zero unless allowFailure). */
  exec(cmd: string, args: readonly string[] = [], options: RunOptions = {}): Promise<CommandResult> {
    return runner.run('ip', ['netns', 'exec', this.netns, cmd, ...args], options);
  }

  /** Runs a shell snippet inside the pod. */
  sh(script: string, options: RunOptions = {}): Promise<CommandResult> {
    return this.exec('sh', ['-c', script], options);
  }

  /** Starts a long-running process inside the pod; it is killed (by pid) when the lab is destroyed. */
  spawn(cmd: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.netns, cmd, ...args], { stdio: 'pipe', ...options });
    this.processes.add(child);
    child.on('exit', () => this.processes.delete(child));
    return child;
  }

  /** nf_conntrack_count in this pod's namespace (0 when conntrack never tracked anything here). */
  async conntrackCount(): Promise<number> {
    const r = await this.exec('cat', ['/proc/sys/net/netfilter/nf_conntrack_count'], { allowFailure: true });
    if (r.code !== 0) return 0; // conntrack not loaded at all: nothing can be tracked
    return Number.parseInt(r.stdout.trim(), 10);
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.processes].map((p) => stopProcess(p)));
  }
}

/** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
export function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

let liveLabs = new Set<Lab>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last-resort cleanup if the process dies with labs alive (SIGINT/SIGTERM, uncaught error).
  const cleanupSync = (): void => {
    for (const lab of liveLabs) lab.destroySync();
    liveLabs = new Set();
  };
  process.on('exit', cleanupSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanupSync();
      process.exit(128 + (osConstants.signals[sig] ?? 2));
    });
  }
}

/** What it takes to find a lab again from another process (`sidelane demo --down` removes a kept mesh). */
export interface LabDescriptor {
  readonly id: string;
  readonly ipv6: boolean;
  readonly pods: readonly { readonly name: string; readonly netns: string; readonly ipv4: string; readonly ipv6?: string }[];
}

export class Lab {
  readonly pods: Pod[] = [];
  readonly nodeNetns: string;
  private nextIndex = 10;
  private destroyed = false;

  private constructor(
    readonly id: string,
    readonly ipv6: boolean,
  ) {
    this.nodeNetns = `${id}-node`;
  }

  static async create(options: LabOptions = {}): Promise<Lab> {
    assertRoot('creating network namespaces');
    const id = `${options.prefix ?? 'sl'}-${randomBytes(3).toString('hex')}`;
    const lab = new Lab(id, options.ipv6 ?? true);
    liveLabs.add(lab);
    installExitHook();
    try {
      await runner.run('ip', ['netns', 'add', lab.nodeNetns]);
      const n = (...args: string[]): Promise<CommandResult> => runner.run('ip', ['-n', lab.nodeNetns, ...args]);
      await n('link', 'set', 'lo', 'up');
      await n('link', 'add', 'br0', 'type', 'bridge');
      await n('addr', 'add', `${NODE_V4}/16`, 'dev', 'br0');
      if (lab.ipv6) await n('-6', 'addr', 'add', `${NODE_V6}/64`, 'dev', 'br0', 'nodad');
      await n('link', 'set', 'br0', 'up');
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  /**
   * Rebuilds a lab from its descriptor, so that destroy() removes what another process left up. Its pods track no
   * child processes: destroy() ends whatever runs inside their namespaces.
   */
  static attach(d: LabDescriptor): Lab {
    const lab = new Lab(d.id, d.ipv6);
    for (const p of d.pods) lab.pods.push(new Pod(lab, p.name, p.netns, p.ipv4, p.ipv6));
    liveLabs.add(lab);
    installExitHook();
    return lab;
  }

  /**
   * Finds a lab another process left behind by its id, from the namespaces named `<id>-*` (so even a lab whose
   * creator was killed mid-way can be removed). Undefined when none of its namespaces exists.
   */
  static async find(id: string): Promise<Lab | undefined> {
    const names = (await listNetns()).filter((n) => n.startsWith(`${id}-`));
    if (names.length === 0) return undefined;
    const pods = await Promise.all(
      names
        .filter((n) => n !== `${id}-node`)
        .sort()
        .map(async (netns) => {
          const addrs = await runner.run('ip', ['-n', netns, '-j', 'addr', 'show', 'dev', 'eth0'], { allowFailure: true });
          let ipv4 = '';
          let ipv6: string | undefined;
          try {
            for (const a of (JSON.parse(addrs.stdout) as { addr_info?: { family: string; local: string; scope: string }[] }[])[0]?.addr_info ?? []) {
              if (a.family === 'inet') ipv4 = a.local;
              else if (a.family === 'inet6' && a.scope === 'global') ipv6 = a.local;
            }
          } catch {
            // no eth0 (the pod was never completed): only its name matters for removal
          }
          return { name: netns.slice(id.length + 1), netns, ipv4, ...(ipv6 ? { ipv6 } : {}) };
        }),
    );
    return Lab.attach({ id, ipv6: pods.some((p) => p.ipv6 !== undefined), pods });
  }

  describe(): LabDescriptor {
    return {
      id: this.id,
      ipv6: this.ipv6,
      pods: this.pods.map((p) => ({ name: p.name, netns: p.netns, ipv4: p.ipv4, ...(p.ipv6 ? { ipv6: p.ipv6 } : {}) })),
    };
  }

  /**
   * Leaves the lab up when this process exits (no exit-time cleanup); its processes should have been started
   * detached, with their output in files. Returns the descriptor to attach() and destroy() it later.
   */
  keep(): LabDescriptor {
    liveLabs.delete(this);
    for (const pod of this.pods) for (const child of pod.processes) child.unref();
    return this.describe();
  }

  /** Names of every namespace of the lab (pods, then the node). */
  namespaces(): string[] {
    return [...this.pods.map((p) => p.netns), this.nodeNetns];
  }

  /** Creates a pod namespace with eth0 on the bridge. */
  async addPod(name: string, options: PodOptions = {}): Promise<Pod> {
    if (!/^[a-z0-9-]{1,20}$/.test(name)) throw new SidelaneError('SIDELANE_ERR_NETNS', `pod name ${name} must be 1-20 of [a-z0-9-]`);
    const index = options.index ?? this.nextIndex++;
    if (index < 2 || index > 250) throw new SidelaneError('SIDELANE_ERR_NETNS', `pod index ${index} out of range 2-250`);
    const netns = `${this.id}-${name}`;
    const ipv4 = `198.18.0.${index}`;
    const withV6 = options.ipv6 ?? this.ipv6;
    const ipv6 = withV6 ? `2001:db8::${index.toString(16)}` : undefined;
    const pod = new Pod(this, name, netns, ipv4, ipv6);
    this.pods.push(pod);
    await runner.run('ip', ['netns', 'add', netns]);
    const p = (...args: string[]): Promise<CommandResult> => runner.run('ip', ['-n', netns, ...args]);
    const n = (...args: string[]): Promise<CommandResult> => runner.run('ip', ['-n', this.nodeNetns, ...args]);
    const peer = `vp${index}`;
    await runner.run('ip', ['-n', netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', peer, 'netns', this.nodeNetns]);
    await n('link', 'set', peer, 'master', 'br0');
    await n('link', 'set', peer, 'up');
    await p('link', 'set', 'lo', 'up');
    await p('addr', 'add', `${ipv4}/16`, 'dev', 'eth0');
    if (ipv6) await p('-6', 'addr', 'add', `${ipv6}/64`, 'dev', 'eth0', 'nodad');
    await p('link', 'set', 'eth0', 'up');
    // Service VIPs (198.19.0.0/16) and any other address route to the node namespace, which forwards nothing out.
    await p('route', 'add', 'default', 'via', NODE_V4);
    if (ipv6) await p('-6', 'route', 'add', 'default', 'via', NODE_V6);
    this.writeHosts(pod);
    return pod;
  }

  /**
   * Makes names resolvable inside every pod (like cluster DNS for services): `ip netns exec` bind-mounts
   * /etc/netns/<ns>/hosts over /etc/hosts, so this writes one such file per pod (removed by destroy()).
   */
  setHosts(entries: Readonly<Record<string, string>>): void {
    this.hosts = { ...this.hosts, ...entries };
    for (const pod of this.pods) this.writeHosts(pod);
  }

  private hosts: Record<string, string> = {};

  private writeHosts(pod: Pod): void {
    if (Object.keys(this.hosts).length === 0) return;
    const dir = `/etc/netns/${pod.netns}`;
    mkdirSync(dir, { recursive: true });
    const lines = ['127.0.0.1 localhost', '::1 localhost', ...Object.entries(this.hosts).map(([name, ip]) => `${ip} ${name}`)];
    writeFileSync(`${dir}/hosts`, `${lines.join('\n')}\n`);
  }

  private removeHostFiles(): void {
    for (const pod of this.pods) rmSync(`/etc/netns/${pod.netns}`, { recursive: true, force: true });
  }

  /** Forgets what `sidelane init` recorded for the lab's namespaces (they are about to disappear with it). */
  private removeCaptureState(): void {
    const store = new FileStateStore();
    for (const ns of [...this.pods.map((p) => p.netns), this.nodeNetns]) {
      try {
        store.remove(`net:[${statSync(`/run/netns/${ns}`).ino}]`);
      } catch {
        // namespace already gone
      }
    }
  }

  pod(name: string): Pod {
    const pod = this.pods.find((p) => p.name === name);
    if (!pod) throw new SidelaneError('SIDELANE_ERR_NETNS', `no pod ${name} in lab ${this.id}`);
    return pod;
  }

  /** Kills every process started in the lab and deletes every namespace it created. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all(this.pods.map((p) => p.killAll()));
    await this.killStragglers();
    this.removeCaptureState();
    for (const ns of this.namespaces()) {
      await runner.run('ip', ['netns', 'del', ns], { allowFailure: true });
    }
    this.removeHostFiles();
    liveLabs.delete(this);
  }

  private inodes(): Set<number> {
    return new Set(this.namespaces().map(netnsInode).filter((i): i is number => i !== undefined));
  }

  /**
   * Ends processes still inside the lab's namespaces that it did not start itself (an app forked by
   * `sidelane exec`, anything started with `ip netns exec` by hand in a kept lab): SIGTERM, then SIGKILL after a
   * grace period, and waits until they are gone.
   */
  private async killStragglers(graceMs = 1500): Promise<void> {
    const pids = pidsInNamespaces(this.inodes());
    if (pids.length === 0) return;
    signalAll(pids, 'SIGTERM');
    const left = await waitGone(pids, graceMs);
    killAll(left);
    await waitGone(left, 2000);
  }

  /** Synchronous variant for process-exit paths. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const pod of this.pods) for (const child of pod.processes) child.kill('SIGKILL');
    killAll(pidsInNamespaces(this.inodes()));
    this.removeCaptureState();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
    for (const ns of this.namespaces()) spawnSync('ip', ['netns', 'del', ns]);
    this.removeHostFiles();
  }
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function assertRoot(what: string): void {
  if (!isRoot()) throw new SidelaneError('SIDELANE_ERR_NETNS', `${what} needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)`);
}

/** True when this machine can create network namespaces (root and `ip netns` works). */
export function canUseNetns(): boolean {
  if (!isRoot()) return false;
  return existsSync('/proc/self/ns/net') && existsSync('/usr/sbin/ip') || existsSync('/sbin/ip');
}

export async function listNetns(): Promise<string[]> {
  const r = await runner.run('ip', ['netns', 'list'], { allowFailure: true });
  return r.stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
}
