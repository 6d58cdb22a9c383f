/** `sidelane cleanup`: remove exactly what `sidelane init` installed in the current network namespace. */
import type { Command } from 'commander';
import { cleanupCapture } from '../../capture/installer';
import { captureOptionsFromFlags, type CaptureFlags } from '../../capture/validation';
import { addCaptureFlags, namespaceDeps } from './capture-flags';

interface CleanupFlags extends CaptureFlags {
  readonly dryRun?: boolean;
}

export function registerCleanup(program: Command): void {
  addCaptureFlags(
    program
      .command('cleanup')
      .description("remove sidelane's capture (rules, chains, nft table, policy routes) from the current network namespace")
      .addHelpText('after', '\nThe init flags are accepted (and validated) so an init command line works with the verb changed; what is removed is\nfound in the namespace and in the state file, whatever the flags say.'),
  ).action(async (flags: CleanupFlags) => {
    captureOptionsFromFlags(flags);
    const dryRun = flags.dryRun ?? false;
    const result = await cleanupCapture(namespaceDeps(), { dryRun });
    const lines = result.removed.length ? result.removed : ['nothing of sidelane is installed here'];
    process.stdout.write(`${dryRun ? '# sidelane cleanup --dry-run: nothing was changed\n# would remove:\n' : ''}${lines.map((l) => (dryRun ? `#   ${l}` : `removed: ${l}`)).join('\n')}\n`);
    for (const n of result.notes) process.stdout.write(`note: ${n}\n`);
  });
}
