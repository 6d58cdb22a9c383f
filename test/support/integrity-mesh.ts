/**
 * The integrity mesh: three pods with real `sidelane run` sidecars — `client` (hook+tproxy outbound capture),
 * `server` (inbound capture of 9100 and 9180 only) and `plain` (no sidecar; the inbound clients) — with the
 * integrity app (apps/integrity.ts) serving in the server pod, and one call per capture path that streams bytes
 * through it and checks what both ends and the proxy's access log report. Shared by the integrity and backpressure
 * tests and scripts/soak-integrity.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Lab, Pod } from '../../src/netns/lab';
import { stopProcess } from '../../src/netns/lab';
import { APPS, CLI, cleanEnv, init, startApp, startProxy, type RunningProxy } from './mesh';
import { jsonLines, settle } from './proxy-probe';
import { planStreams, type ClientProgress, type ClientSummary, type HttpMode, type PlannedStream, type ServerReport, type TcpMode } from './integrity-stream';

export const INTEGRITY_VIP = '198.19.7.10';
export const INTEGRITY_HOST = 'integrity.test.svc.cluster.local';
/** Server ports: 91xx are captured inbound by the server's sidecar, 92xx are reached outbound only. */
export const INTEGRITY_PORTS = { inbound: { tcp: 9100, http: 9180 }, outbound: { tcp: 9200, http: 9280 } } as const;

/** inbound: plain client → server sidecar (TPROXY) → app; hook: hooked client → client sidecar → server;
 * tproxy: unhooked client (SIDELANE_DISABLE=1) → client sidecar (outbound TPROXY fallback) → server. */
export type CapturePath = 'inbound' | 'hook' | 'tproxy';
export type Proto = 'tcp' | 'http';
export type DataPath = 'native' | 'js';

export interface PathSpec {
  readonly capture: CapturePath;
  readonly proto: Proto;
  /** Payload bytes in total (both directions, all streams). */
  readonly bytes: number;
  readonly streams: number;
  readonly modes?: readonly (TcpMode | HttpMode)[];
  /** The receiver of the large direction reads at this rate (bytes/s) for slowMs (the slow reader). */
  readonly slowRate?: number;
  readonly slowMs?: number;
  readonly progressMs?: number;
}

export interface PathOutcome {
  readonly label: string;
  readonly run: string;
  /** Payload bytes both ends agree on (sent by one, received intact by the other). */
  readonly bytes: number;
  readonly ms: number;
  /** Payload MB/s (10^6 bytes) over the client's wall time. */
  readonly mbPerS: number;
  /** Everything that did not match (empty = sha256 and counts equal at both ends and in the access log). */
  readonly problems: readonly string[];
  readonly client: ClientSummary;
  readonly server: readonly ServerReport[];
  readonly progress: readonly ClientProgress[];
}

export const DEFAULT_MODES: Readonly<Record<Proto, readonly (TcpMode | HttpMode)[]>> = {
  tcp: ['duplex', 'up-then-down', 'down-then-up'],
  http: ['upload', 'download'],
};

/** The integrity app's server: its JSON report lines, by stream id. */
export class IntegrityServer {
  readonly reports = new Map<string, ServerReport>();

  private constructor(readonly child: ChildProcess) {
    let partial = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const r = JSON.parse(line) as ServerReport;
        this.reports.set(r.id, r);
      }
    });
  }

  static async start(pod: Pod): Promise<IntegrityServer> {
    const { inbound, outbound } = INTEGRITY_PORTS;
    const child = await startApp(pod, 'node', [path.join(APPS, 'integrity.js'), 'serve', `${inbound.tcp}:tcp`, `${inbound.http}:http`, `${outbound.tcp}:tcp`, `${outbound.http}:http`], /listening/);
    return new IntegrityServer(child);
  }

  /** The reports of `ids` (waits for stragglers: a server logs a stream once its socket closed). */
  async waitFor(ids: readonly string[], timeoutMs = 10_000): Promise<ServerReport[]> {
    await settle(
      () => ids.every((id) => this.reports.has(id)),
      (all) => all,
      timeoutMs,
      50,
    );
    return ids.flatMap((id) => this.reports.get(id) ?? []);
  }
}

/**
 * What the two ends must agree on, stream by stream: the bytes each direction should carry (from the plan), the
 * count and sha256 the sender computed over what it generated, and the count and sha256 the receiver computed over
 * what arrived. Pure; returns the mismatches in words.
 */
export function compareEnds(plan: readonly PlannedStream[], client: ClientSummary, server: ReadonlyMap<string, ServerReport>): string[] {
  const problems: string[] = [];
  const byId = new Map(client.streams.map((s) => [s.id, s]));
  for (const p of plan) {
    const c = byId.get(p.id);
    const s = server.get(p.id);
    if (c === undefined) problems.push(`${p.id}: no client result`);
    else if (c.error !== undefined) problems.push(`${p.id} (${p.mode}): client failed: ${c.error}`);
    if (s === undefined) problems.push(`${p.id}: no server report`);
    else if (s.error !== undefined) problems.push(`${p.id} (${p.mode}): server failed: ${s.error}`);
    if (c === undefined || s === undefined || c.error !== undefined || s.error !== undefined) continue;
    const check = (dir: 'up' | 'down', want: number, sent: ClientSummary['streams'][number]['tx'], got: ClientSummary['streams'][number]['rx']): void => {
      if (want === 0 && sent === undefined && got === undefined) return;
      if (sent === undefined || got === undefined) {
        problems.push(`${p.id} (${p.mode}) ${dir}: a side did not report (sent ${JSON.stringify(sent)}, received ${JSON.stringify(got)})`);
        return;
      }
      if (sent.bytes !== want) problems.push(`${p.id} (${p.mode}) ${dir}: sender sent ${sent.bytes} bytes, planned ${want}`);
      if (got.bytes !== sent.bytes) problems.push(`${p.id} (${p.mode}) ${dir}: receiver got ${got.bytes} bytes of ${sent.bytes}`);
      else if (got.sha256 !== sent.sha256) problems.push(`${p.id} (${p.mode}) ${dir}: sha256 differs (sent ${sent.sha256}, received ${got.sha256})`);
    };
    check('up', p.up, c.tx, s.rx);
    check('down', p.down, s.tx, c.rx);
  }
  return problems;
}

function configFiles(lab: Lab, server: Pod): { client: string; server: string } {
  const { inbound, outbound } = INTEGRITY_PORTS;
  const client = path.join(os.tmpdir(), `${lab.id}-integrity-client.yaml`);
  writeFileSync(
    client,
    `services:
  - host: ${INTEGRITY_HOST}
    addresses: [${INTEGRITY_VIP}]
    ports: [{port: ${outbound.tcp}, protocol: TCP}, {port: ${outbound.http}, protocol: HTTP}]
    endpoints: [{address: ${server.ipv4}}]
`,
  );
  const serverFile = path.join(os.tmpdir(), `${lab.id}-integrity-server.yaml`);
  writeFileSync(serverFile, `inbound:\n  ports: [{port: ${inbound.tcp}, protocol: TCP}, {port: ${inbound.http}, protocol: HTTP}]\n`);
  return { client, server: serverFile };
}

export interface MeshOptions {
  readonly dataPath?: DataPath;
  readonly concurrency?: number;
}

export class IntegrityMesh {
  private runs = 0;

  private constructor(
    readonly lab: Lab,
    readonly client: Pod,
    readonly server: Pod,
    readonly plain: Pod,
    readonly app: IntegrityServer,
    private readonly configs: { client: string; server: string },
    private readonly concurrency: number,
    public clientProxy: RunningProxy,
    public serverProxy: RunningProxy,
    public dataPath: DataPath,
  ) {}

  static async create(lab: Lab, options: MeshOptions = {}): Promise<IntegrityMesh> {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    const plain = await lab.addPod('plain');
    const configs = configFiles(lab, server);
    const { inbound } = INTEGRITY_PORTS;
    await init(client); // hook+tproxy outbound (the default), inbound capture too
    await init(server, ['--include-inbound-ports', `${inbound.tcp},${inbound.http}`]);
    const dataPath = options.dataPath ?? 'native';
    const concurrency = options.concurrency ?? 2;
    const [clientProxy, serverProxy, app] = await Promise.all([
      startProxy(client, IntegrityMesh.proxyArgs(configs.client, concurrency, dataPath)),
      startProxy(server, IntegrityMesh.proxyArgs(configs.server, concurrency, dataPath)),
      IntegrityServer.start(server),
    ]);
    return new IntegrityMesh(lab, client, server, plain, app, configs, concurrency, clientProxy, serverProxy, dataPath);
  }

  private static proxyArgs(config: string, concurrency: number, dataPath: DataPath): string[] {
    return ['--config', config, '--concurrency', String(concurrency), '--data-path', dataPath];
  }

  /** Stops both sidecars (SIGTERM drain) and starts them again on another data path. */
  async restartProxies(dataPath: DataPath): Promise<void> {
    await Promise.all([stopProcess(this.clientProxy.process, 10_000), stopProcess(this.serverProxy.process, 10_000)]);
    [this.clientProxy, this.serverProxy] = await Promise.all([
      startProxy(this.client, IntegrityMesh.proxyArgs(this.configs.client, this.concurrency, dataPath)),
      startProxy(this.server, IntegrityMesh.proxyArgs(this.configs.server, this.concurrency, dataPath)),
    ]);
    this.dataPath = dataPath;
  }

  /** The sidecar a path goes through (the server's for inbound, the client's otherwise). */
  proxyFor(capture: CapturePath): RunningProxy {
    return capture === 'inbound' ? this.serverProxy : this.clientProxy;
  }

  label(spec: Pick<PathSpec, 'capture' | 'proto'>): string {
    return `${spec.capture} ${spec.proto}${spec.proto === 'tcp' ? ` (${this.dataPath})` : ''}`;
  }

  /** Streams spec.bytes through one capture path and returns what both ends and the proxy said. */
  async run(spec: PathSpec): Promise<PathOutcome> {
    this.runs += 1;
    const run = `${spec.capture}${spec.proto}${this.dataPath}${this.runs}`;
    const modes = spec.modes ?? DEFAULT_MODES[spec.proto];
    const plan = planStreams(run, spec.bytes, spec.streams, modes);
    const { inbound, outbound } = INTEGRITY_PORTS;
    const target = spec.capture === 'inbound' ? { host: this.server.ipv4, port: inbound[spec.proto] } : { host: INTEGRITY_VIP, port: outbound[spec.proto] };
    const appArgs = [
      path.join(APPS, 'integrity.js'),
      spec.proto,
      target.host,
      String(target.port),
      '--bytes',
      String(spec.bytes),
      '--streams',
      String(spec.streams),
      '--modes',
      modes.join(','),
      '--run',
      run,
      ...(spec.slowRate ? ['--slow-rate', String(spec.slowRate), '--slow-ms', String(spec.slowMs ?? 0)] : []),
      ...(spec.progressMs ? ['--progress-ms', String(spec.progressMs)] : []),
    ];
    const proxy = this.proxyFor(spec.capture);
    const logOffset = proxy.stdout().length;
    // Generous: a loaded 2-core machine moves a few MB/s at worst; a hang still ends the run (and fails it).
    const timeoutMs = 60_000 + Math.ceil(spec.bytes / 2e6) * 1000 + (spec.slowMs ?? 0);
    const result =
      spec.capture === 'inbound'
        ? await this.plain.exec('node', appArgs, { env: cleanEnv(), timeoutMs, allowFailure: true })
        : await this.client.exec('node', [CLI, 'exec', '--', 'node', ...appArgs], {
            env: spec.capture === 'tproxy' ? { ...cleanEnv(), SIDELANE_DISABLE: '1' } : cleanEnv(),
            timeoutMs,
            allowFailure: true,
          });
    const label = this.label(spec);
    const last = result.stdout.trim().split('\n').pop() ?? '';
    if (result.code !== 0 || !last.startsWith('{')) {
      const problem = `${label}: the client exited ${result.code}: ${result.stderr.slice(-500)}${result.stdout.slice(-500)}`;
      return { label, run, bytes: 0, ms: 0, mbPerS: 0, problems: [problem], client: { streams: [], bytes: 0, ms: 0 }, server: [], progress: [] };
    }
    const client = JSON.parse(last) as ClientSummary;
    const server = await this.app.waitFor(plan.map((p) => p.id));
    const problems = compareEnds(plan, client, this.app.reports);
    problems.push(...(await this.checkAccessLog(spec, plan, client, proxy, logOffset, target)));
    const progress = jsonLines(result.stderr) as unknown as ClientProgress[];
    const bytes = problems.length === 0 ? plan.reduce((n, p) => n + p.up + p.down, 0) : 0;
    return { label, run, bytes, ms: client.ms, mbPerS: client.ms > 0 ? bytes / 1e3 / client.ms : 0, problems, client, server, progress };
  }

  /**
   * The proxy moved exactly these bytes: one access-log entry per stream (TCP: per connection; HTTP: per request),
   * captured the expected way, with byte counts equal to the plan (plus the TCP header line), and no failure flag.
   * This is also what proves the bytes went through the sidecar and not around it.
   */
  private async checkAccessLog(spec: PathSpec, plan: readonly PlannedStream[], client: ClientSummary, proxy: RunningProxy, offset: number, target: { host: string; port: number }): Promise<string[]> {
    const dst = `${target.host}:${target.port}`;
    const run = plan[0]?.id.replace(/-\d+$/, '') ?? '';
    const mine = (e: Record<string, unknown>): boolean =>
      spec.proto === 'tcp' ? e.type === 'tcp' && e.original_dst === dst : e.type === 'http' && typeof e.path === 'string' && e.path.includes(`id=${run}-`);
    const entries = await settle(
      () => jsonLines(proxy.stdout().slice(offset)).filter(mine),
      (list) => list.length >= plan.length,
      10_000,
    );
    const label = this.label(spec);
    const problems: string[] = [];
    if (entries.length !== plan.length) problems.push(`${label}: ${entries.length} access-log entries for ${plan.length} streams`);
    const wantCapture = spec.capture === 'hook' ? 'hook' : 'tproxy';
    const wantDirection = spec.capture === 'inbound' ? 'inbound' : 'outbound';
    for (const e of entries) {
      if (e.capture !== wantCapture || e.direction !== wantDirection) problems.push(`${label}: an entry says ${String(e.direction)} via ${String(e.capture)}, expected ${wantDirection} via ${wantCapture}`);
      if (spec.proto === 'tcp' && (e.response_flags !== '-' || e.connection_end !== 'closed')) problems.push(`${label}: a connection ended ${String(e.connection_end)} with flags ${String(e.response_flags)}`);
      if (spec.proto === 'http' && (e.response_code !== 200 || e.response_flags !== '-')) problems.push(`${label}: a request got ${String(e.response_code)} ${String(e.response_flags)}`);
    }
    const up = plan.reduce((n, p) => n + p.up, 0) + client.streams.reduce((n, s) => n + (s.extraUp ?? 0), 0);
    const down = plan.reduce((n, p) => n + p.down, 0) + client.streams.reduce((n, s) => n + (s.extraDown ?? 0), 0);
    const received = entries.reduce((n, e) => n + Number(e.bytes_received), 0);
    const sent = entries.reduce((n, e) => n + Number(e.bytes_sent), 0);
    if (received !== up || sent !== down) problems.push(`${label}: the proxy counted ${received} bytes up and ${sent} down, expected ${up} and ${down}`);
    return problems;
  }
}
