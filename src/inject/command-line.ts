/**
 * The command lines injection writes into a pod: `sidelane init` for the init container (capture flags derived
 * from the settings) and `sidelane run` for the proxy. Also reads the init argv back out of an injected pod spec,
 * so a test can execute exactly what the YAML says.
 */
import type { PodSpec } from 'kubernetes-types/core/v1';
import { PORTS, type CaptureSettings, type ProxySettings } from './settings';
import type { Wildcard } from './annotations';

/** The container's entrypoint; the image installs it on PATH. */
export const SIDELANE_BIN = 'sidelane';
export const INIT_CONTAINER = 'sidelane-init';
export const PROXY_CONTAINER = 'sidelane-proxy';
/** Where the init container copies libsidelane_hook.so and where app containers find it (read-only). */
export const HOOK_DIR = '/var/lib/sidelane/hook';
export const HOOK_LIBRARY = 'libsidelane_hook.so';
export const HOOK_PATH = `${HOOK_DIR}/${HOOK_LIBRARY}`;
/** Where the proxy's ConfigMap is mounted (whole, not subPath, so updates reach the file and the proxy reloads). */
export const CONFIG_DIR = '/etc/sidelane';
export const CONFIG_FILE = `${CONFIG_DIR}/config.yaml`;

function list<T>(values: Wildcard<T>): string {
  return values === '*' ? '*' : values.join(',');
}

/**
 * argv of the init container: `sidelane init …`. Flags that only restate an empty list are left out; the
 * inbound/outbound ports and both include sets are always written, so the YAML shows what is captured (as
 * istio-init's `-b '*' -i '*'` does). `hookDir` is set when the outbound path uses the hook.
 */
export function initCommandLine(capture: CaptureSettings, hookDir: string | undefined): string[] {
  const argv = [SIDELANE_BIN, 'init', '--mode', capture.mode, '--outbound', capture.outbound];
  argv.push('--inbound-port', String(PORTS.inbound), '--outbound-port', String(PORTS.outbound));
  argv.push('--include-inbound-ports', list(capture.includeInboundPorts));
  if (capture.excludeInboundPorts.length) argv.push('--exclude-inbound-ports', capture.excludeInboundPorts.join(','));
  argv.push('--include-outbound-cidrs', list(capture.includeOutboundCidrs));
  if (capture.excludeOutboundCidrs.length) argv.push('--exclude-outbound-cidrs', capture.excludeOutboundCidrs.join(','));
  if (capture.includeOutboundPorts.length) argv.push('--include-outbound-ports', capture.includeOutboundPorts.join(','));
  if (capture.excludeOutboundPorts.length) argv.push('--exclude-outbound-ports', capture.excludeOutboundPorts.join(','));
  if (capture.excludeInterfaces.length) argv.push('--exclude-interfaces', capture.excludeInterfaces.join(','));
  if (capture.mode === 'tproxy' && !capture.preserveSource) argv.push('--no-preserve-source');
  if (capture.ipv6 !== undefined) argv.push(capture.ipv6 ? '--ipv6' : '--no-ipv6');
  if (hookDir !== undefined) argv.push('--hook-dir', hookDir);
  return argv;
}

/**
 * argv of the proxy: `sidelane run …`, with --config only when a ConfigMap is mounted. The proxy must agree with
 * init on how traffic reaches it, so the non-default capture facts are repeated here: `--capture-mode redirect`
 * (read SO_ORIGINAL_DST), `--no-preserve-source`, `--no-ipv6`.
 */
export function proxyCommandLine(proxy: ProxySettings, capture: CaptureSettings): string[] {
  const argv = [SIDELANE_BIN, 'run'];
  if (proxy.configMap !== undefined) argv.push('--config', CONFIG_FILE);
  argv.push('--concurrency', String(proxy.concurrency), '--log-level', proxy.logLevel);
  if (capture.mode === 'redirect') argv.push('--capture-mode', 'redirect');
  if (capture.mode === 'tproxy' && !capture.preserveSource) argv.push('--no-preserve-source');
  if (capture.ipv6 === false) argv.push('--no-ipv6');
  return argv;
}

/**
 * The exact argv the injected init container runs (`command` followed by `args`), read from an injected pod
 * spec; undefined when the pod has no sidelane init container (not injected, or capture mode none).
 */
export function injectedInitArgv(spec: PodSpec | undefined): string[] | undefined {
  const init = spec?.initContainers?.find((c) => c.name === INIT_CONTAINER);
  if (!init) return undefined;
  return [...(init.command ?? []), ...(init.args ?? [])];
}
