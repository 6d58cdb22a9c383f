/**
 * The capture each mode installs with `sidelane init` inside its pods, and its removal with `sidelane cleanup` —
 * the real CLI, never rules written by the benchmark. Every pod with capture is remembered, so an interrupted run
 * can still remove it synchronously from a signal handler (the namespaces go away afterwards; cleanup also
 * removes init's state file outside the namespace).
 */
import { spawnSync } from 'node:child_process';
import type { Pod } from '../netns/lab';
import { runInPod, runInPodChecked } from './pod-process';
import type { SidelaneCli } from './sidelane-cli';

export class CaptureInstallations {
  private readonly installed = new Set<Pod>();

  constructor(private readonly cli: SidelaneCli) {}

  async init(pod: Pod, args: readonly string[]): Promise<void> {
    this.installed.add(pod); // before: a half-applied init is cleaned up too
    await runInPodChecked(pod, this.cli.argv('init', ...args), { timeoutMs: 30_000 });
  }

  async cleanup(pod: Pod): Promise<void> {
    if (!this.installed.delete(pod)) return;
    await runInPod(pod, this.cli.argv('cleanup'), { timeoutMs: 30_000 });
  }

  async cleanupAll(): Promise<void> {
    for (const pod of [...this.installed]) await this.cleanup(pod);
  }

  /** For exit paths that cannot wait (signal handlers): one blocking `sidelane cleanup` per pod. */
  cleanupAllSync(): void {
    for (const pod of this.installed) {
      spawnSync('ip', ['netns', 'exec', pod.netns, ...this.cli.argv('cleanup')], { stdio: 'ignore', timeout: 10_000 });
    }
    this.installed.clear();
  }

  get pods(): readonly Pod[] {
    return [...this.installed];
  }
}
