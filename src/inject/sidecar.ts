/**
 * The Kubernetes objects injection adds, as typed values: the capture init container, the proxy (native
 * sidecar or classic container), the shared hook volume and the hook's environment for app containers.
 */
import type { Container, EnvVar, Probe, Volume, VolumeMount } from 'kubernetes-types/core/v1';
import {
  CONFIG_DIR,
  HOOK_DIR,
  INIT_CONTAINER,
  PROXY_CONTAINER,
  initCommandLine,
  proxyCommandLine,
} from './command-line';
import { PORTS, type InjectionSettings } from './settings';

export const HOOK_VOLUME = 'sidelane-hook';
export const CONFIG_VOLUME = 'sidelane-config';

/** The capture init container: installs the rules (root, NET_ADMIN + NET_RAW only) and copies the hook. */
export function initContainer(settings: InjectionSettings): Container {
  const argv = initCommandLine(settings.capture, settings.hook ? HOOK_DIR : undefined);
  const container: Container = {
    name: INIT_CONTAINER,
    image: settings.proxy.image,
    command: argv.slice(0, 1),
    args: argv.slice(1),
    resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      privileged: false,
      // iptables-legacy takes its lock under /run; the hook goes to the emptyDir.
      readOnlyRootFilesystem: false,
      // Installing rules needs uid 0 with the capabilities above (non-root users do not keep added capabilities).
      runAsGroup: 0,
      runAsNonRoot: false,
      runAsUser: 0,
    },
  };
  if (settings.hook) container.volumeMounts = [{ name: HOOK_VOLUME, mountPath: HOOK_DIR }];
  return container;
}

const readyProbe = (periodSeconds: number, failureThreshold: number): Probe => ({
  httpGet: { path: '/healthz/ready', port: PORTS.health },
  periodSeconds,
  timeoutSeconds: 3,
  failureThreshold,
});

/**
 * The proxy. As a native sidecar (an init container with restartPolicy: Always) its startup probe holds the app
 * containers back until it is ready — the start-up race of istio/istio#11130 — and it stops after them.
 */
export function proxyContainer(settings: InjectionSettings): Container {
  const argv = proxyCommandLine(settings.proxy, settings.capture);
  const container: Container = {
    name: PROXY_CONTAINER,
    image: settings.proxy.image,
    command: argv.slice(0, 1),
    args: argv.slice(1),
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'INSTANCE_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ],
    // Istio's port name, so existing PodMonitors (regex '.*-envoy-prom') keep scraping the proxy.
    ports: [{ containerPort: PORTS.prometheus, name: 'http-envoy-prom', protocol: 'TCP' }],
    readinessProbe: readyProbe(15, 4),
    resources: {
      requests: { ...settings.proxy.resources.requests },
      limits: { ...settings.proxy.resources.limits },
    },
    securityContext: {
      allowPrivilegeEscalation: false,
      // NET_ADMIN: IP_TRANSPARENT listeners and upstream sockets (source preservation) and SO_MARK (bypass mark).
      capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: 1337,
      runAsNonRoot: false,
      runAsUser: 0,
    },
  };
  if (settings.nativeSidecar) {
    container.restartPolicy = 'Always';
    container.startupProbe = readyProbe(1, 600);
  }
  if (settings.proxy.configMap !== undefined) container.volumeMounts = [{ name: CONFIG_VOLUME, mountPath: CONFIG_DIR, readOnly: true }];
  return container;
}

export function injectedVolumes(settings: InjectionSettings): Volume[] {
  const volumes: Volume[] = [];
  if (settings.hook) volumes.push({ name: HOOK_VOLUME, emptyDir: {} });
  if (settings.proxy.configMap !== undefined) volumes.push({ name: CONFIG_VOLUME, configMap: { name: settings.proxy.configMap } });
  return volumes;
}

export const hookMount: VolumeMount = { name: HOOK_VOLUME, mountPath: HOOK_DIR, readOnly: true };

/** The hook's settings for an app container (LD_PRELOAD is handled apart: it is appended to, not set). */
export function hookEnv(settings: InjectionSettings): EnvVar[] {
  if (!settings.hook) return [];
  const c = settings.capture;
  const env: EnvVar[] = [{ name: 'SIDELANE_OUTBOUND_PORT', value: String(PORTS.outbound) }];
  if (c.includeOutboundCidrs !== '*') env.push({ name: 'SIDELANE_INCLUDE_CIDRS', value: c.includeOutboundCidrs.join(',') });
  if (c.excludeOutboundCidrs.length) env.push({ name: 'SIDELANE_EXCLUDE_CIDRS', value: c.excludeOutboundCidrs.join(',') });
  if (c.excludeOutboundPorts.length) env.push({ name: 'SIDELANE_EXCLUDE_PORTS', value: c.excludeOutboundPorts.join(',') });
  if (settings.hook.onProxyDown !== undefined) env.push({ name: 'SIDELANE_HOOK_ON_PROXY_DOWN', value: settings.hook.onProxyDown });
  return env;
}
