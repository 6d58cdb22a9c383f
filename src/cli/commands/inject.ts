/** `sidelane inject`: Kubernetes injection (istioctl kube-inject's job) over a YAML manifest; see docs/kubernetes.md. */
import { Option, type Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { UsageError } from '../../errors';
import { parseBool, parseImage, parseObjectName } from '../../inject/annotations';
import { injectManifest } from '../../inject/manifest';
import type { InjectorOptions } from '../../inject/settings';
import { packageVersion } from './version';
import { parseFilePath } from '../options';

export const IMAGE_REPOSITORY = 'ghcr.io/sidelane/sidelane';

export function defaultImage(version = packageVersion()): string {
  return `${IMAGE_REPOSITORY}:${version}`;
}

interface InjectFlags {
  filename: string;
  output?: string;
  image?: string;
  nativeSidecar: string;
  configMap?: string;
}

/** Validates the flags into injector options (usage errors name the flag, the value and what was expected). */
export function injectorOptions(flags: Omit<InjectFlags, 'filename' | 'output'>, version = packageVersion()): InjectorOptions {
  const check = <T>(flag: string, value: string, parse: (raw: string) => T, expected: string): T => {
    try {
      return parse(value);
    } catch {
      throw new UsageError(`${flag} ${JSON.stringify(value)}: expected ${expected}`, { flag, value });
    }
  };
  return {
    image: flags.image === undefined ? defaultImage(version) : check('--image', flags.image, parseImage, 'an image reference such as ghcr.io/sidelane/sidelane:0.1.0'),
    nativeSidecar: check('--native-sidecar', flags.nativeSidecar, parseBool, 'true or false'),
    configMap: flags.configMap === undefined ? undefined : check('--config-map', flags.configMap, parseObjectName, 'a ConfigMap name'),
    version,
  };
}

function readInput(filename: string): string {
  try {
    return readFileSync(filename === '-' ? 0 : filename, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UsageError(`-f/--filename: cannot read ${JSON.stringify(filename)} (${code}); expected a manifest file, or - for stdin`, { file: filename });
  }
}

export function registerInject(program: Command): void {
  program
    .command('inject')
    .description('add sidelane (capture init container, proxy sidecar, connect() hook) to every workload in a Kubernetes manifest')
    .requiredOption('-f, --filename <file>', 'manifest to inject (multi-document YAML; - for stdin)')
    .option('-o, --output <file>', 'write the injected manifest here instead of stdout (not written on error)')
    .option('--image <ref>', 'sidelane image for the init container and the proxy (default ghcr.io/sidelane/sidelane:<version>)')
    .addOption(new Option('--native-sidecar <bool>', 'proxy as a native sidecar (init container, restartPolicy: Always); false: a classic container').default('true'))
    .option('--config-map <name>', 'ConfigMap whose config.yaml the proxy runs with (mounted at /etc/sidelane; default: none, proxy defaults)')
    .action((flags: InjectFlags) => {
      const options = injectorOptions(flags);
      if (flags.output !== undefined) parseFilePath('-o/--output', flags.output);
      const source = readInput(flags.filename);
      const result = injectManifest(source, options, flags.filename === '-' ? '<stdin>' : flags.filename);
      for (const w of result.workloads) {
        if (w.outcome === 'host-network') process.stderr.write(`sidelane: ${w.workload}: not injected (hostNetwork: true shares the node's network namespace)\n`);
      }
      if (flags.output !== undefined) writeFileSync(flags.output, result.text);
      else process.stdout.write(result.text);
    });
}
