/** `sidelane version`: the package version and the build facts a bug report needs. */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseChoice } from '../options';

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
      const format = parseChoice('--output', opts.output, ['text', 'json'] as const);
      const info = { version: packageVersion(), node: process.version, platform: `${process.platform}/${process.arch}` };
      process.stdout.write(format === 'json' ? `${JSON.stringify(info)}\n` : `sidelane ${info.version} (node ${info.node}, ${info.platform})\n`);
    });
}
