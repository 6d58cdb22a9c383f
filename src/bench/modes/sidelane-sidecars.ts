/**
 * The sidelane modes share one shape: `sidelane init …` in both pods, `sidelane run --config …` as the sidecar of
 * each pod (the same binary and configuration in the client and the server pod), and the client run either plain
 * or under `sidelane exec` (the connect() hook). Only the capture flags, the proxy's capture mode and the hook differ.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { benchRoutingConfig } from '../routing-config';
import type { ModeName } from '../settings';
import { modeSlug, type BenchMode, type ModeEnvironment, type PodPair, type RunningMode } from './mode';
import { SidecarPair } from './sidecar-pair';

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

/**
 * The `sidelane run` flags of a sidecar. Access logs are off: HAProxy, the peer, logs nothing here either, and
 * Istio's default profile has none; formatting a JSON line per connection or request would be measured otherwise.
 */
export function sidelaneRunArgs(configFile: string, spec: SidelaneModeSpec, concurrency: number): string[] {
  return ['run', '--config', configFile, '--concurrency', String(concurrency), '--access-log', 'off', ...spec.runArgs];
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
      const pair = await SidecarPair.start(pods, env, {
        name: `sidelane (${spec.name})`,
        initArgs: spec.initArgs,
        argv: () => env.cli.argv(...sidelaneRunArgs(configFile, spec, env.settings.concurrency)),
      });
      return {
        name: spec.name,
        pods,
        get sidecars() {
          return pair.sidecars;
        },
        clientArgv: (argv) => (spec.hooked ? env.cli.argv('exec', '--', ...argv) : [...argv]),
        fault: () => pair.fault(),
        restartSidecars: () => pair.restart(),
        stop: () => pair.stop(),
      };
    },
  };
}
