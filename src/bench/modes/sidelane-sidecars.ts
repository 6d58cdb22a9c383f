/**
 * The sidelane modes share one shape: `sidelane init …` in both pods, `sidelane run --config …` as the sidecar of
 * each pod (the same binary and configuration in the client and the server pod), and the client run either plain
 * or under `sidelane exec` (the connect() hook). Only the capture flags, the proxy's capture mode and the hook differ.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from '../pod-process';
import { waitForListeners } from '../readiness';
import { benchRoutingConfig } from '../routing-config';
import type { ModeName } from '../settings';
import { modeSlug, sidecarFault, type BenchMode, type ModeEnvironment, type PodPair, type RunningMode } from './mode';

export const INBOUND_PORT = 15006;
export const OUTBOUND_PORT = 15001;

export interface SidelaneModeSpec {
  readonly name: ModeName;
  readonly description: string;
  /** Flags of `sidelane init` (the same in both pods). */
  readonly initArgs: readonly string[];
  /** Extra flags of `sidelane run`. */
  readonly runArgs: readonly string[];
  /** Start the client under `sidelane exec` (LD_PRELOAD hook). */
  readonly hooked: boolean;
}

/** The `sidelane run` flags of a sidecar; `--concurrency` only when more than one worker is asked for. */
export function sidelaneRunArgs(configFile: string, spec: SidelaneModeSpec, concurrency: number): string[] {
  return ['run', '--config', configFile, ...spec.runArgs, ...(concurrency > 1 ? ['--concurrency', String(concurrency)] : [])];
}

export function sidelaneMode(spec: SidelaneModeSpec): BenchMode {
  return {
    name: spec.name,
    description: spec.description,
    async start(pods: PodPair, env: ModeEnvironment): Promise<RunningMode> {
      const dir = path.join(env.workDir, modeSlug(spec.name));
      mkdirSync(dir, { recursive: true });
      const configFile = path.join(dir, 'sidelane.yaml');
      writeFileSync(configFile, benchRoutingConfig(pods.server.ipv4));
      const sidecars: Daemon[] = [];
      const stop = async (): Promise<void> => {
        await Promise.all(sidecars.map((d) => d.stop()));
        await env.captures.cleanup(pods.client);
        await env.captures.cleanup(pods.server);
      };
      try {
        for (const pod of [pods.client, pods.server]) await env.captures.init(pod, spec.initArgs);
        for (const pod of [pods.client, pods.server]) {
          sidecars.push(startDaemon(pod, `sidelane (${spec.name})`, env.cli.argv(...sidelaneRunArgs(configFile, spec, env.settings.concurrency))));
        }
        for (const [i, pod] of [pods.client, pods.server].entries()) {
          const daemon = sidecars[i]!;
          await waitForListeners(pod, [INBOUND_PORT, OUTBOUND_PORT], 15_000, () => (daemon.running ? undefined : daemon.describeExit()));
        }
      } catch (err) {
        await stop();
        throw err;
      }
      return {
        name: spec.name,
        pods,
        sidecars,
        clientArgv: (argv) => (spec.hooked ? env.cli.argv('exec', '--', ...argv) : [...argv]),
        fault: () => sidecarFault(sidecars),
        stop,
      };
    },
  };
}
