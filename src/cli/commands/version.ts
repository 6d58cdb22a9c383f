/** `sidelane version`: the package version and the build facts a bug report needs. */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export function packageVersion(): string {
  for (const up of ['../../../..', '../../..']) {
    try {
      const pkg = JSON.parse(readFileSync(path.resolve(__dirname, up, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sidelane' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return 'unknown';
}

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('print the sidelane version')
    .option('-o, --output <format>', 'text or json', 'text')
    .action((opts: { output: string }) => {
      const info = { version: packageVersion(), node: process.version, platform: `${process.platform}/${process.arch}` };
      process.stdout.write(opts.output === 'json' ? `${JSON.stringify(info)}\n` : `sidelane ${info.version} (node ${info.node}, ${info.platform})\n`);
    });
}
