/** `sidelane hook-path`: the absolute path of libsidelane_hook.so, for LD_PRELOAD. */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SidelaneError } from '../../errors';
import { nativeBuildDir } from '../../native/addon';

export function hookLibraryPath(): string {
  const file = path.join(nativeBuildDir(), 'libsidelane_hook.so');
  if (!existsSync(file)) {
    throw new SidelaneError('SIDELANE_ERR_NATIVE_MISSING', `libsidelane_hook.so is not built (expected ${file}); run \`npm install\``, { file });
  }
  return file;
}

export function registerHookPath(program: Command): void {
  program
    .command('hook-path')
    .description('print the absolute path of libsidelane_hook.so (the connect() hook for LD_PRELOAD)')
    .action(() => {
      process.stdout.write(`${hookLibraryPath()}\n`);
    });
}
