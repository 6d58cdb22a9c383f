/**
 * The external programs the benchmark drives and the Debian packages that provide them. Missing ones are
 * installed with apt-get when running as root (as scripts/system-packages.js does for the test suite); otherwise
 * the error names the packages to install. Their versions go into the report's machine description.
 */
import { SidelaneError } from '../errors';
import type { CommandRunner } from '../netns/command';

export interface Tool {
  readonly command: string;
  readonly debianPackage: string;
  /** argv that prints the version, and which stream it goes to. */
  readonly versionArgs: readonly string[];
}

export const TOOLS: readonly Tool[] = [
  { command: 'wrk', debianPackage: 'wrk', versionArgs: ['-v'] },
  { command: 'h2load', debianPackage: 'nghttp2-client', versionArgs: ['--version'] },
  { command: 'iperf3', debianPackage: 'iperf3', versionArgs: ['--version'] },
  { command: 'haproxy', debianPackage: 'haproxy', versionArgs: ['-v'] },
  { command: 'nginx', debianPackage: 'nginx-light', versionArgs: ['-v'] },
  { command: 'curl', debianPackage: 'curl', versionArgs: ['--version'] },
  { command: 'conntrack', debianPackage: 'conntrack', versionArgs: ['--version'] },
  { command: 'setpriv', debianPackage: 'util-linux', versionArgs: ['--version'] },
  { command: 'ss', debianPackage: 'iproute2', versionArgs: ['-V'] },
];

/** The version token of a tool's `--version`-style output (first line), or the first line itself. */
export function toolVersion(command: string, output: string): string {
  const first = output.trim().split('\n')[0]?.trim() ?? '';
  const patterns: Record<string, RegExp> = {
    wrk: /^wrk (\S+)/,
    h2load: /nghttp2\/(\S+)/,
    iperf3: /^iperf (\S+)/,
    haproxy: /version (\S+)/,
    nginx: /nginx\/(\S+)/,
    curl: /^curl (\S+)/,
    conntrack: /v(\d\S*)/,
    setpriv: /util-linux (\S+)/,
    ss: /iproute2-?(\S+)/,
  };
  const m = patterns[command]?.exec(first);
  return m ? m[1]! : first;
}

async function installed(runner: CommandRunner, command: string): Promise<boolean> {
  const r = await runner.run('sh', ['-c', `command -v ${command}`], { allowFailure: true });
  return r.code === 0;
}

/** Installs the packages of missing tools (root only); throws naming them otherwise. */
export async function ensureTools(runner: CommandRunner, isRoot: boolean, log: (line: string) => void): Promise<void> {
  const missing: Tool[] = [];
  for (const tool of TOOLS) if (!(await installed(runner, tool.command))) missing.push(tool);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((t) => t.debianPackage))];
  if (!isRoot) {
    throw new SidelaneError('SIDELANE_ERR_BENCH', `missing ${missing.map((t) => t.command).join(', ')}; install: apt-get install ${packages.join(' ')}`);
  }
  log(`installing Debian packages: ${packages.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await runner.run('apt-get', ['update', '-qq'], { env, timeoutMs: 300_000 });
  await runner.run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { env, timeoutMs: 600_000 });
}

export async function toolVersions(runner: CommandRunner): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const tool of TOOLS) {
    const r = await runner.run(tool.command, tool.versionArgs, { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
    // Some print their version on stderr (nginx -v) or exit non-zero after printing it (wrk -v).
    if (r) out[tool.command] = toolVersion(tool.command, r.stdout.trim() ? r.stdout : r.stderr);
  }
  return out;
}
