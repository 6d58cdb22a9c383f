/**
 * The description of the machine a result was measured on (CPU, cores, kernel, memory, Node and tool versions,
 * date, load average at start and end), printed with every report: absolute numbers only mean something next to
 * it, and a high load average says the shared machine was busy during the run.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { CommandRunner } from '../netns/command';
import { toolVersions } from './toolchain';

export interface MachineDescription {
  readonly cpuModel: string;
  readonly cores: number;
  readonly kernel: string;
  readonly os: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly tools: Readonly<Record<string, string>>;
  readonly loadAverageStart: readonly number[];
  loadAverageEnd?: readonly number[];
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

export function loadAverage(): number[] {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}

export async function describeMachine(runner: CommandRunner): Promise<MachineDescription> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    kernel: os.release(),
    os: osName(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    tools: await toolVersions(runner),
    loadAverageStart: loadAverage(),
  };
}
