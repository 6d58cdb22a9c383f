/**
 * The sidecars of a mode's two pods, managed together: capture installed with `sidelane init` in both pods, one
 * sidecar process per pod, readiness (both listener ports open), restart (fresh processes under the same capture,
 * for measurements that need a process without history) and removal (processes, then capture).
 */
import type { Pod } from '../../netns/lab';
import { startDaemon, type Daemon } from '../pod-process';
import { waitForListeners } from '../readiness';
import { sidecarFault, type ModeEnvironment, type PodPair } from './mode';

export const INBOUND_PORT = 15006;
export const OUTBOUND_PORT = 15001;

export interface SidecarPairSpec {
  /** Process name in errors, e.g. `sidelane (tproxy)`. */
  readonly name: string;
  /** Flags of `sidelane init` (the same in both pods). */
  readonly initArgs: readonly string[];
  /** The sidecar's command line in a pod. */
  readonly argv: (pod: Pod) => string[];
}

export class SidecarPair {
  private current: Daemon[] = [];

  private constructor(
    private readonly pods: PodPair,
    private readonly env: ModeEnvironment,
    private readonly spec: SidecarPairSpec,
  ) {}

  /** Installs capture in both pods and starts both sidecars; on failure removes what it did and rethrows. */
  static async start(pods: PodPair, env: ModeEnvironment, spec: SidecarPairSpec): Promise<SidecarPair> {
    const pair = new SidecarPair(pods, env, spec);
    try {
      await Promise.all([pods.client, pods.server].map((pod) => env.captures.init(pod, spec.initArgs)));
      await pair.launch();
    } catch (err) {
      await pair.stop();
      throw err;
    }
    return pair;
  }

  get sidecars(): readonly Daemon[] {
    return this.current;
  }

  fault(): string | undefined {
    return sidecarFault(this.current);
  }

  /** Replaces both sidecar processes with fresh ones (the capture stays). */
  async restart(): Promise<void> {
    await Promise.all(this.current.map((d) => d.stop()));
    await this.launch();
  }

  async stop(): Promise<void> {
    await Promise.all(this.current.map((d) => d.stop()));
    await this.env.captures.cleanup(this.pods.client);
    await this.env.captures.cleanup(this.pods.server);
  }

  private async launch(): Promise<void> {
    const pods = [this.pods.client, this.pods.server];
    this.current = pods.map((pod) => startDaemon(pod, this.spec.name, this.spec.argv(pod)));
    await Promise.all(
      pods.map((pod, i) => {
        const daemon = this.current[i]!;
        // Generous: a loaded machine (CI runs test files side by side) can take many seconds to start node processes.
        return waitForListeners(pod, [INBOUND_PORT, OUTBOUND_PORT], 60_000, () => (daemon.running ? undefined : daemon.describeExit()));
      }),
    );
  }
}
