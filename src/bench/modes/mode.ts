/**
 * A benchmark mode: one way of putting (or not putting) sidecars between the client pod and the server pod. A mode
 * sets up its capture and sidecars in its own pod pair and says how to run a client there (hooked or not); the
 * scenarios run the same load through every mode.
 */
import type { Pod } from '../../netns/lab';
import type { CaptureInstallations } from '../capture-installations';
import type { Daemon } from '../pod-process';
import type { BenchSettings, ModeName } from '../settings';
import type { SidelaneCli } from '../sidelane-cli';

export interface PodPair {
  readonly client: Pod;
  readonly server: Pod;
}

export interface ModeEnvironment {
  readonly cli: SidelaneCli;
  readonly captures: CaptureInstallations;
  readonly settings: BenchSettings;
  /** Private directory of the run (configuration files), removed at the end. */
  readonly workDir: string;
}

export interface RunningMode {
  readonly name: ModeName;
  readonly pods: PodPair;
  /** The sidecar processes (both pods); empty for `direct`. Their process trees are what CPU and memory measure. */
  readonly sidecars: readonly Daemon[];
  /** The argv that runs a client program in the client pod under this mode (through `sidelane exec` when hooked). */
  clientArgv(argv: readonly string[]): string[];
  /** Why the mode cannot serve (a sidecar exited), or undefined when it can. */
  fault(): string | undefined;
  /** Replaces the sidecar processes with fresh ones under the same capture (no-op without sidecars). */
  restartSidecars(): Promise<void>;
  /** Stops the sidecars and removes the capture (the lab removes the namespaces afterwards). */
  stop(): Promise<void>;
}

export interface BenchMode {
  readonly name: ModeName;
  /** One line for the report: what captures the traffic and what proxies it. */
  readonly description: string;
  start(pods: PodPair, env: ModeEnvironment): Promise<RunningMode>;
}

/** The uid HAProxy runs as, excluded from capture with `sidelane init -u 1337` (Istio's proxy identity). */
export const PROXY_UID = 1337;

/** Pod-name slug of a mode (`tproxy+hook` → `tproxy-hook`). */
export function modeSlug(name: ModeName): string {
  return name.replace(/[^a-z0-9]+/g, '-');
}

/** The first sidecar that is not running, described, or undefined. */
export function sidecarFault(sidecars: readonly Daemon[]): string | undefined {
  return sidecars.find((d) => !d.running)?.describeExit();
}
