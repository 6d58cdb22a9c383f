/** `sidelane init`: install capture in the current network namespace (the init container's job, DESIGN 8). */
import type { Command } from 'commander';
import { chmodSync, copyFileSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../errors';
import { initCapture } from '../../capture/installer';
import { captureOptionsFromFlags, shown, type CaptureFlags } from '../../capture/validation';
import { addCaptureFlags, namespaceDeps } from './capture-flags';
import { hookLibraryPath } from './hook-path';

interface InitFlags extends CaptureFlags {
  readonly dryRun?: boolean;
  readonly hookDir?: string;
}

function validateHookDir(dir: string | undefined): string | undefined {
  if (dir === undefined) return undefined;
  if (dir.trim() === '' || dir.includes('\0')) throw new UsageError(`--hook-dir: expected a directory path, got ${shown(dir)}`);
  return path.resolve(dir);
}

/** Copies libsidelane_hook.so into `dir` (atomically: temporary file, then rename), for a shared pod volume. */
export function copyHook(dir: string): string {
  const source = hookLibraryPath();
  mkdirSync(dir, { recursive: true });
  const target = path.join(dir, 'libsidelane_hook.so');
  const tmp = `${target}.${process.pid}.tmp`;
  copyFileSync(source, tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, target);
  return target;
}

export function registerInit(program: Command): void {
  addCaptureFlags(
    program
      .command('init')
      .description('install capture in the current network namespace (TPROXY or REDIRECT rules, policy routes)')
      .option('--hook-dir <dir>', 'also copy libsidelane_hook.so into DIR (a volume shared with the app containers)'),
  ).action(async (flags: InitFlags) => {
    // Every flag is validated before anything is read or changed.
    const options = captureOptionsFromFlags(flags);
    const hookDir = validateHookDir(flags.hookDir);
    const dryRun = flags.dryRun ?? false;
    if (hookDir && !dryRun) copyHook(hookDir);
    const result = await initCapture(options, namespaceDeps(), { dryRun });
    if (dryRun) {
      const hook = hookDir ? `# copy ${hookLibraryPath()} to ${path.join(hookDir, 'libsidelane_hook.so')}\n` : '';
      process.stdout.write(`# sidelane init --dry-run: nothing was changed\n${hook}${result.description}`);
      return;
    }
    const families = result.env.families.map((f) => `IPv${f}`).join('+');
    process.stdout.write(
      `sidelane: capture installed (${options.mode}, outbound ${options.outbound}, ${families}) with ${result.backend.backend} (${result.backend.reason}); see \`sidelane capture show\`\n`,
    );
  });
}
