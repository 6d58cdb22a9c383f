/**
 * The churn-load scenario (issue 10, "Load"): a client pod and a server pod, each with `sidelane init` and a real
 * `sidelane run`; hooked tcp-churn clients in the client pod hold N connections to a TCP service whose endpoint is
 * an echo server in the server pod, replacing them continuously — every connection goes hook → client sidecar
 * (15001) → server pod → TPROXY → server sidecar (15006) → app. Samples both proxies while the load runs and, after
 * it, waits for them to return to rest and reports what did not (fds, gauges, conntrack). Shared by
 * test/e2e/reliability/load.test.ts and scripts/soak-load.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import type { Lab, Pod } from '../../src/netns/lab';
import { APPS, CLI, cleanEnv, echoServer, init, startProxy, type RunningProxy } from './mesh';
import { fdKinds, rssBytes, serverInfo, settle, stats, statSum, type FdKinds } from './proxy-probe';

export interface LoadOptions {
  /** Connections held at once. */
  readonly connections: number;
  readonly durationMs: number;
  /** New connections per second once all are held (their mean lifetime is connections / rate). */
  readonly rate: number;
  /** Proxy workers per sidecar. */
  readonly concurrency: number;
  /** Bytes per exchange (two exchanges per connection). */
  readonly payload?: number;
  /** Keep the proxies' access logs (client.log, server.log) in this directory; default a temporary one, removed. */
  readonly logDir?: string;
  /** Progress lines (one per sample) for scripts; tests leave it out. */
  readonly progress?: (line: string) => void;
}

export interface ChurnSummary {
  elapsedMs: number;
  connections: number;
  opened: number;
  ok: number;
  failed: number;
  exchanges: number;
  peakEstablished: number;
  connectionsPerSecond: number;
  maxConnectMs: number;
  errors: Record<string, number>;
  peers: Record<string, number>;
  servers: Record<string, number>;
}

/** One proxy (pod) observed at a point in time. */
export interface ProxySample {
  /** Downstream connections open, summed over workers and directions (sidelane.downstream_cx_active). */
  readonly active: number;
  /** Per worker pid: open fds by kind. */
  readonly fds: Record<number, FdKinds>;
  /** Sum of the workers' and the supervisor's RSS. */
  readonly rssBytes: number;
  /** V8 heap in use, summed over the supervisor and the workers (nodejs_heap_size_used_bytes). */
  readonly heapUsedBytes: number;
}

export interface PodResult {
  readonly pod: string;
  readonly workers: number[];
  readonly before: ProxySample;
  /** The sample with the most open downstream connections while the load ran. */
  readonly peak: ProxySample;
  readonly after: ProxySample;
  /** cluster.*.upstream_cx_active summed, after the load. */
  readonly upstreamActiveAfter: number;
  /** sidelane.relay_active (native relays in flight), after. */
  readonly relaysAfter: number;
  /** Pipe fds the native relays keep pooled for reuse, before and after (2 fds per pipe). */
  readonly pooledPipesBefore: number;
  readonly pooledPipesAfter: number;
  readonly conntrack: number;
  /**
   * The pod's TCP counters that explain slow connects (/proc/net/netstat, this namespace): SYNs dropped at a full
   * listen queue (ListenOverflows, ListenDrops) and SYNs retransmitted (TCPSynRetrans).
   */
  readonly tcpCounters: Record<string, number>;
  /** Workers that restarted during the run (should be none). */
  readonly restarts: number;
  /** Failure-like counters that are not zero (connect failures, refusals, overflows, fd exhaustion). */
  readonly failureCounters: Record<string, number>;
  /** Access-log entries: how many, and by `connection_end`/`response_flags` when not a clean close. */
  readonly accessLog: { entries: number; unclean: Record<string, number>; samples: string[] };
}

export interface LoadResult {
  readonly options: LoadOptions;
  readonly summary: ChurnSummary;
  readonly client: PodResult;
  readonly server: PodResult;
  readonly clientPodAddress: string;
}

const SERVICE = 'load.test.svc.cluster.local';
const VIP = '198.19.3.10';
const BASE_PORT = 9000;
/** Connections per client process and per echo-server process: well under the 20,000-file process limit. */
const PER_PROCESS = 10_000;

/** The client sidecar's configuration: one TCP service per echo-server port, endpoint in the server pod. */
export function loadConfig(serverAddress: string, ports: readonly number[]): string {
  return `services:
  - host: ${SERVICE}
    addresses: [${VIP}]
    ports: [${ports.map((p) => `{port: ${p}, protocol: TCP}`).join(', ')}]
    endpoints: [{address: ${serverAddress}}]
`;
}

async function heapUsed(pod: Pod): Promise<number> {
  const r = await pod.exec('curl', ['-sS', '--max-time', '10', 'http://127.0.0.1:15090/stats/prometheus']);
  const m = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([\d.e+]+)$/m.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

async function sample(pod: Pod, workers: readonly number[], supervisor: number): Promise<ProxySample> {
  const active = statSum(await stats(pod, 'downstream_cx_active'), /downstream_cx_active/);
  return {
    active,
    fds: Object.fromEntries(workers.map((p) => [p, fdKinds(p)])),
    rssBytes: [supervisor, ...workers].reduce((n, p) => n + rssBytes(p), 0),
    heapUsedBytes: await heapUsed(pod),
  };
}

async function pooledPipes(pod: Pod): Promise<number> {
  return statSum(await stats(pod, 'relay_pipes'), /relay_pipes\.pooled$/);
}

/** Waits until the proxy is back at rest: no downstream connection, no upstream connection, no relay in flight. */
async function atRest(pod: Pod): Promise<{ active: number; upstream: number; relays: number }> {
  const read = async (): Promise<{ active: number; upstream: number; relays: number }> => {
    const s = await stats(pod, 'cx_active|relay_active');
    return { active: statSum(s, /downstream_cx_active/), upstream: statSum(s, /upstream_cx_active$/), relays: statSum(s, /relay_active$/) };
  };
  return settle(read, (v) => v.active === 0 && v.upstream === 0 && v.relays === 0, 30_000, 250);
}

interface ProxyUnderTest {
  readonly pod: Pod;
  readonly proxy: RunningProxy;
  readonly workers: number[];
  readonly supervisor: number;
  readonly before: ProxySample;
  readonly pooledBefore: number;
  peak: ProxySample;
}

async function observe(pod: Pod, proxy: RunningProxy): Promise<ProxyUnderTest> {
  const info = await serverInfo(pod);
  const workers = info.workers.map((w) => w.pid);
  // The supervisor is the `node … run` child of `ip netns exec` (which execs it): the spawned pid itself.
  const supervisor = proxy.process.pid ?? 0;
  const before = await sample(pod, workers, supervisor);
  return { pod, proxy, workers, supervisor, before, pooledBefore: await pooledPipes(pod), peak: before };
}

/** Counts a proxy's access-log entries and the ones that did not end as a clean close. */
async function readAccessLog(file: string): Promise<PodResult['accessLog']> {
  const out = { entries: 0, unclean: {} as Record<string, number>, samples: [] as string[] };
  const lines = readline.createInterface({ input: createReadStream(file) });
  for await (const line of lines) {
    if (!line.startsWith('{')) continue;
    out.entries += 1;
    const e = JSON.parse(line) as { connection_end?: string; response_flags?: string };
    if (e.connection_end === 'closed' && e.response_flags === '-') continue;
    const key = `${e.connection_end ?? '?'} ${e.response_flags ?? '?'}`;
    out.unclean[key] = (out.unclean[key] ?? 0) + 1;
    if (out.samples.length < 5) out.samples.push(line);
  }
  return out;
}

/** Selected TcpExt counters of the pod's namespace. */
async function tcpCounters(pod: Pod): Promise<Record<string, number>> {
  const lines = (await pod.exec('cat', ['/proc/net/netstat'])).stdout.split('\n');
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.split(/\s+/);
    const values = lines[i + 1]!.split(/\s+/);
    if (names[0] !== 'TcpExt:') continue;
    names.forEach((n, j) => {
      if (['ListenOverflows', 'ListenDrops', 'TCPSynRetrans'].includes(n)) out[n] = Number(values[j]);
    });
  }
  return out;
}

const FAILURE_COUNTER = /connect_fail|connect_timeout|overflow|refused|fd_exhausted|rx_reset|no_healthy/;

async function finish(p: ProxyUnderTest, accessLog: string): Promise<PodResult> {
  const rest = await atRest(p.pod);
  // Connections are closed asynchronously after the gauges drop; fds follow within moments.
  const sockets = (s: ProxySample): number[] => p.workers.map((w) => s.fds[w]?.socket ?? -1);
  const wanted = sockets(p.before).join(',');
  let after = await sample(p.pod, p.workers, p.supervisor);
  for (let i = 0; i < 100 && sockets(after).join(',') !== wanted; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = await sample(p.pod, p.workers, p.supervisor);
  }
  const info = await serverInfo(p.pod);
  return {
    pod: p.pod.name,
    workers: p.workers,
    before: p.before,
    peak: p.peak,
    after,
    upstreamActiveAfter: rest.upstream,
    relaysAfter: rest.relays,
    pooledPipesBefore: p.pooledBefore,
    pooledPipesAfter: await pooledPipes(p.pod),
    conntrack: await p.pod.conntrackCount(),
    tcpCounters: await tcpCounters(p.pod),
    restarts: info.workers.reduce((n, w) => n + w.restarts, 0),
    failureCounters: Object.fromEntries(Object.entries(await stats(p.pod)).filter(([k, v]) => FAILURE_COUNTER.test(k) && v !== 0)),
    accessLog: await readAccessLog(accessLog),
  };
}

export interface ChurnRun {
  readonly child: ChildProcess;
  /** Resolves with the summary when the process ended (rejects if it failed without one). */
  readonly done: Promise<ChurnSummary>;
  /** `connection` lines so far (with --log-connections): when each was established and which server answered. */
  readonly connections: { t: number; server: string }[];
  /** Ends the run early (the clients close what they hold, checked as usual). */
  stop(): void;
}

/**
 * Starts test/support/apps/tcp-churn in `pod` — through `sidelane exec` (the hook, with `hookArgs` such as
 * `--on-proxy-down closed`) unless `hooked` is false.
 */
export function startChurn(pod: Pod, args: readonly string[], options: { hooked?: boolean; hookArgs?: readonly string[] } = {}): ChurnRun {
  const app = [path.join(APPS, 'tcp-churn.js'), ...args];
  const argv = options.hooked === false ? app : [CLI, 'exec', ...(options.hookArgs ?? []), '--', 'node', ...app];
  const child = pod.spawn('node', argv, { env: cleanEnv() });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let summary: ChurnSummary | undefined;
  const connections: { t: number; server: string }[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const m = JSON.parse(line) as { type: string; t: number; server: string };
    if (m.type === 'summary') summary = m as unknown as ChurnSummary;
    else if (m.type === 'connection') connections.push({ t: m.t, server: m.server });
  });
  const done = new Promise<ChurnSummary>((resolve, reject) =>
    child.once('exit', (code) => (summary && code === 0 ? resolve(summary) : reject(new Error(`tcp-churn exited with ${code}: ${stderr.slice(-2000)}`)))),
  );
  return { child, done, connections, stop: () => void child.stdin?.write('stop\n') };
}

function merge(parts: readonly ChurnSummary[]): ChurnSummary {
  const add = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  return parts.reduce((m, s) => ({
    elapsedMs: Math.max(m.elapsedMs, s.elapsedMs),
    connections: m.connections + s.connections,
    opened: m.opened + s.opened,
    ok: m.ok + s.ok,
    failed: m.failed + s.failed,
    exchanges: m.exchanges + s.exchanges,
    peakEstablished: m.peakEstablished + s.peakEstablished,
    connectionsPerSecond: m.connectionsPerSecond + s.connectionsPerSecond,
    maxConnectMs: Math.max(m.maxConnectMs, s.maxConnectMs),
    errors: add(m.errors, s.errors),
    peers: add(m.peers, s.peers),
    servers: add(m.servers, s.servers),
  }));
}

/** Runs the scenario in `lab` (two new pods) and returns what was measured; the caller judges it. */
export async function runChurnLoad(lab: Lab, options: LoadOptions): Promise<LoadResult> {
  const processes = Math.ceil(options.connections / PER_PROCESS);
  const ports = Array.from({ length: processes }, (_, i) => BASE_PORT + i);
  const client = await lab.addPod('client');
  const server = await lab.addPod('server');
  await Promise.all([init(client), init(server)]);
  await Promise.all(ports.map((p) => echoServer(server, [p])));
  const config = path.join(os.tmpdir(), `${lab.id}-load.yaml`);
  writeFileSync(config, loadConfig(server.ipv4, ports));
  const logDir = options.logDir ?? mkdtempSync(path.join(os.tmpdir(), `${lab.id}-logs-`));
  const log = (pod: Pod): string => path.join(logDir, `${pod.name}.log`);
  const common = ['--concurrency', String(options.concurrency)];
  const [serverProxy, clientProxy] = await Promise.all([
    startProxy(server, [...common, '--access-log', log(server)]),
    startProxy(client, [...common, '--access-log', log(client), '--config', config]),
  ]);
  const proxies = [await observe(client, clientProxy), await observe(server, serverProxy)];

  const perProcess = Math.ceil(options.connections / processes);
  const runs = ports.map((port, i) => {
    const n = Math.min(perProcess, options.connections - i * perProcess);
    return startChurn(
      client,
      [
        '--target', `${VIP}:${port}`,
        '--connections', String(n),
        '--duration-ms', String(options.durationMs),
        '--rate', String((options.rate * n) / options.connections),
        '--ramp-rate', String(Math.max(200, Math.round(1000 / processes))),
        '--payload', String(options.payload ?? 64),
        // Source preservation on the server side: the app sees the client pod, through both sidecars.
        '--expect-peer', client.ipv4,
      ],
    );
  });
  let running = true;
  const sampler = (async () => {
    while (running) {
      for (const p of proxies) {
        const s = await sample(p.pod, p.workers, p.supervisor);
        if (s.active > p.peak.active) p.peak = s;
      }
      if (options.progress) {
        const [c, s] = proxies;
        options.progress(`load: client proxy ${c!.peak.active} peak active, server proxy ${s!.peak.active} peak active`);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  let summary: ChurnSummary;
  try {
    summary = merge(await Promise.all(runs.map((r) => r.done)));
  } finally {
    running = false;
    await sampler;
  }
  const [clientResult, serverResult] = [await finish(proxies[0]!, log(client)), await finish(proxies[1]!, log(server))];
  if (options.logDir === undefined) rmSync(logDir, { recursive: true, force: true });
  return { options, summary, client: clientResult, server: serverResult, clientPodAddress: client.ipv4 };
}
