/**
 * The workload of the server pod: nginx (a fast C HTTP server answering a small fixed body, so the proxies are
 * what is measured) on the TCP-scenario port and the L7 port, and an iperf3 server for bulk throughput. The
 * nginx configuration is rendered here as text (golden-tested) and written into the run's work directory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Pod } from '../netns/lab';
import { SidelaneError } from '../errors';
import { runInPodChecked, startDaemon, type Daemon } from './pod-process';
import { waitForListeners } from './readiness';

/** Plain HTTP port used by every TCP scenario (the sidecars relay it as opaque TCP). */
export const HTTP_PORT = 80;
/** HTTP port declared `protocol: HTTP` to sidelane (routed per request) and proxied by HAProxy in `mode http`. */
export const L7_PORT = 8080;
export const IPERF_PORT = 5201;
export const RESPONSE_BODY = 'hello from the sidelane benchmark\n';

/**
 * One process (`master_process off`) so the lab's pid is the whole server and a SIGKILL on cleanup leaves no
 * orphaned worker; keep-alive without limits, no access log (its cost is not what this benchmark measures).
 */
export function nginxConfig(dir: string): string {
  const body = RESPONSE_BODY.replace(/\n/g, '\\n');
  return [
    '# nginx for sidelane bench (generated)',
    'master_process off;',
    'daemon off;',
    'worker_processes 1;',
    `pid ${path.join(dir, 'nginx.pid')};`,
    'error_log stderr warn;',
    'worker_rlimit_nofile 20000;',
    'events {',
    '  worker_connections 19000;',
    '  multi_accept on;',
    '}',
    'http {',
    '  access_log off;',
    '  default_type text/plain;',
    '  keepalive_requests 10000000;',
    '  keepalive_timeout 600s;',
    '  client_header_timeout 600s;',
    `  client_body_temp_path ${path.join(dir, 'body')};`,
    `  proxy_temp_path ${path.join(dir, 'proxy')};`,
    `  fastcgi_temp_path ${path.join(dir, 'fastcgi')};`,
    `  uwsgi_temp_path ${path.join(dir, 'uwsgi')};`,
    `  scgi_temp_path ${path.join(dir, 'scgi')};`,
    '  server {',
    `    listen ${HTTP_PORT} backlog=4096;`,
    `    listen ${L7_PORT} backlog=4096;`,
    `    location / { return 200 "${body}"; }`,
    '  }',
    '  # Status over a unix socket: reading it creates no TCP connection, so no conntrack entry in the pod.',
    '  server {',
    `    listen unix:${statusSocketPath(dir)};`,
    '    location = /nginx_status { stub_status; }',
    '  }',
    '}',
    '',
  ].join('\n');
}

export function statusSocketPath(dir: string): string {
  return path.join(dir, 'nginx-status.sock');
}

export interface ServerApps {
  readonly pod: Pod;
  readonly nginx: Daemon;
  readonly iperf3: Daemon;
  /** nginx's stub_status socket (unix). */
  readonly statusSocket: string;
}

export async function startServerApps(pod: Pod, workDir: string): Promise<ServerApps> {
  const dir = path.join(workDir, pod.name);
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir));
  const nginx = startDaemon(pod, 'nginx', ['nginx', '-c', conf, '-e', 'stderr']);
  const iperf3 = startDaemon(pod, 'iperf3 server', ['iperf3', '-s', '-p', String(IPERF_PORT)]);
  const dead = (): string | undefined => [nginx, iperf3].find((d) => !d.running)?.describeExit();
  await waitForListeners(pod, [HTTP_PORT, L7_PORT, IPERF_PORT], 10_000, dead);
  return { pod, nginx, iperf3, statusSocket: statusSocketPath(dir) };
}

/** nginx's stub_status: connections accepted since start (each new TCP connection that reached the app). */
export function parseAcceptedConnections(stubStatus: string): number | undefined {
  const m = /server accepts handled requests\s*\n\s*(\d+)\s+(\d+)\s+(\d+)/.exec(stubStatus);
  return m ? Number(m[1]) : undefined;
}

/** Connections nginx has accepted so far (its own status request over the unix socket included). */
export async function acceptedConnections(apps: ServerApps): Promise<number> {
  const r = await runInPodChecked(apps.pod, ['curl', '-sS', '--unix-socket', apps.statusSocket, 'http://nginx/nginx_status'], { timeoutMs: 10_000 });
  const n = parseAcceptedConnections(r.stdout);
  if (n === undefined) throw new SidelaneError('SIDELANE_ERR_BENCH', `nginx status: expected stub_status output, got '${r.stdout.slice(0, 120)}'`);
  return n;
}
