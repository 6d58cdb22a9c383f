/**
 * The supervisor of `sidelane run` (Envoy's main thread, as processes): forks `--concurrency` workers that share
 * the transparent listeners through SO_REUSEPORT, replaces a worker that dies, and owns what is per pod rather than
 * per worker — the admin API (127.0.0.1:15000), health (:15021/healthz/ready), Prometheus metrics
 * (:15090/stats/prometheus), configuration reload and the drain on SIGTERM. Admin views and metrics aggregate every
 * worker.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { AdminServer, json, text, type AdminRequest, type AdminResponse } from '../admin/admin-server';
import { clustersTextFromJson, mergeClusterViews, type ClusterStatusJson } from '../admin/clusters-view';
import { buildSnapshot } from '../config/snapshot';
import { ConfigReloader } from '../config/reload';
import type { SidelaneConfig } from '../config/schema';
import { describeError, SidelaneError } from '../errors';
import { LOG_LEVELS, type LogLevel } from '../telemetry/logger';
import type { FromWorker, ToWorker, WorkerSettings } from './ipc';
import { describeCredentials, readCredentials } from './privileges';

export interface SupervisorOptions {
  readonly settings: WorkerSettings;
  readonly concurrency: number;
  readonly config: SidelaneConfig;
  /** The configuration file (reloaded on SIGHUP / change), or undefined for defaults. */
  readonly configFile: string | undefined;
  /** Admin API port on 127.0.0.1 (0 = any free port); undefined = no admin API. */
  readonly adminPort: number | undefined;
  /** Health port (0.0.0.0 and [::]); undefined = none. */
  readonly healthPort: number | undefined;
  /** Prometheus port (0.0.0.0 and [::]); undefined = none. */
  readonly metricsPort: number | undefined;
  /** How long SIGTERM lets open connections finish. */
  readonly drainTimeMs: number;
  readonly version: string;
  readonly log?: (line: string) => void;
}

type State = 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING';

interface WorkerSlot {
  readonly index: number;
  child: ChildProcess;
  ready: boolean;
  restarts: number;
  startedAt: number;
}

interface PendingReply {
  resolve(m: Extract<FromWorker, { type: 'reply' }>): void;
  timer: NodeJS.Timeout;
}

const WORKER_MAIN = path.join(__dirname, 'worker-main.js');

export class Supervisor {
  private readonly slots: WorkerSlot[] = [];
  private state: State = 'PRE_INITIALIZING';
  private readonly startedAt = Date.now();
  private config: SidelaneConfig;
  private source: string;
  private nextId = 1;
  private readonly pending = new Map<number, PendingReply>();
  private readonly servers: http.Server[] = [];
  private admin: AdminServer | undefined;
  private reloader: ConfigReloader | undefined;
  private logLevel: LogLevel;
  private stopping = false;
  private readonly registry = new Registry();
  private readonly restartsTotal: Counter<string>;
  private exitResolve: ((code: number) => void) | undefined;
  readonly exited: Promise<number>;

  constructor(private readonly options: SupervisorOptions) {
    this.config = options.config;
    this.source = options.configFile ?? 'defaults';
    this.logLevel = options.settings.logLevel;
    this.exited = new Promise((r) => (this.exitResolve = r));
    this.restartsTotal = new Counter({ name: 'sidelane_worker_restarts_total', help: 'worker processes replaced after they died', registers: [this.registry] });
    const self = this;
    new Gauge({
      name: 'sidelane_workers',
      help: 'worker processes, by readiness',
      labelNames: ['ready'],
      registers: [this.registry],
      collect() {
        this.set({ ready: 'true' }, self.slots.filter((s) => s.ready).length);
        this.set({ ready: 'false' }, self.slots.filter((s) => !s.ready).length);
      },
    });
    new Gauge({
      name: 'sidelane_server_state',
      help: 'server state: 0 LIVE, 1 DRAINING, 2 PRE_INITIALIZING (Envoy server.state)',
      registers: [this.registry],
      collect() {
        this.set(self.state === 'LIVE' ? 0 : self.state === 'DRAINING' ? 1 : 2);
      },
    });
  }

  /** Ready for traffic: configuration loaded, every worker's listeners bound, not draining. */
  get ready(): boolean {
    return this.state === 'LIVE' && this.slots.length === this.options.concurrency && this.slots.every((s) => s.ready);
  }

  get adminPort(): number | undefined {
    return this.admin?.port;
  }

  /** Forks the workers and waits until all are ready; then starts admin, health and metrics. */
  async start(): Promise<void> {
    // Health answers from the start — 503 until every worker's listeners are bound (kubelet's startup probe).
    if (this.options.healthPort !== undefined) await this.serve(this.options.healthPort, (req, res) => this.health(req, res));
    const readies = [];
    for (let i = 0; i < this.options.concurrency; i++) readies.push(this.spawn(i));
    try {
      await Promise.all(readies);
    } catch (err) {
      this.stopping = true;
      for (const s of this.slots) s?.child.kill('SIGKILL');
      for (const s of this.servers) s.close();
      throw err;
    }
    if (this.options.adminPort !== undefined) {
      this.admin = new AdminServer({ port: this.options.adminPort });
      this.registerAdmin(this.admin);
      await this.admin.start();
    }
    if (this.options.metricsPort !== undefined) await this.serve(this.options.metricsPort, (req, res) => void this.prometheus(req, res));
    if (this.options.configFile !== undefined) {
      this.reloader = new ConfigReloader({
        file: this.options.configFile,
        apply: (cfg, trigger) => {
          // Compile once here (pure) so a configuration the workers could not apply is refused before it is sent.
          buildSnapshot(cfg, {
            preserveSource: this.options.settings.preserveSource,
            connectTimeoutMs: this.options.settings.connectTimeoutMs,
            idleTimeoutMs: this.options.settings.idleTimeoutMs,
            inboundPort: this.options.settings.sidecar.inboundPort,
            outboundPort: this.options.settings.sidecar.outboundPort,
          });
          this.config = cfg;
          this.broadcast({ type: 'apply', config: cfg, source: this.source, trigger });
          return `sent to ${this.slots.length} workers`;
        },
        refused: (message, trigger) => this.broadcast({ type: 'refused', message, source: this.source, trigger }),
        log: (line) => this.log(line),
      });
      this.reloader.start();
    }
    this.state = 'LIVE';
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void this.shutdown(sig));
  }

  /** Drain: not ready, workers refuse new connections and finish open ones, then everyone exits. */
  async shutdown(reason: string, drainTimeMs = this.options.drainTimeMs): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.state = 'DRAINING';
    this.log(`sidelane: draining (${reason}) for up to ${drainTimeMs} ms`);
    this.reloader?.stop();
    const exits = this.slots.map((s) => new Promise<void>((r) => (s.child.exitCode !== null || s.child.signalCode !== null ? r() : s.child.once('exit', () => r()))));
    this.broadcast({ type: 'drain', deadlineMs: drainTimeMs, exit: true });
    const killer = setTimeout(() => {
      for (const s of this.slots) s.child.kill('SIGKILL');
    }, drainTimeMs + 3000);
    await Promise.all(exits);
    clearTimeout(killer);
    await this.admin?.stop();
    for (const s of this.servers) s.closeAllConnections();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.log('sidelane: drained, exiting');
    this.exitResolve?.(0);
  }

  // ------------------------------------------------------------------------------------------------- workers

  private spawn(index: number, restarts = 0): Promise<void> {
    const child = fork(WORKER_MAIN, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const slot: WorkerSlot = { index, child, ready: false, restarts, startedAt: Date.now() };
    this.slots[index] = slot;
    return new Promise<void>((resolve, reject) => {
      child.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            slot.ready = true;
            resolve();
            return;
          case 'failed':
            reject(new SidelaneError(m.exitCode === 2 ? 'SIDELANE_ERR_CONFIG' : 'SIDELANE_ERR_SYSCALL', `worker ${index} failed to start: ${m.message}`));
            return;
          case 'reply': {
            const p = this.pending.get(m.id);
            if (p) {
              clearTimeout(p.timer);
              this.pending.delete(m.id);
              p.resolve(m);
            }
            return;
          }
          case 'drained':
            return;
        }
      });
      child.once('exit', (code, signal) => {
        slot.ready = false;
        if (this.stopping || this.slots[index] !== slot) return;
        if (this.state === 'PRE_INITIALIZING') {
          reject(new SidelaneError('SIDELANE_ERR_SYSCALL', `worker ${index} exited during start-up (${signal ?? code})`));
          return;
        }
        // A crashed worker loses only its own connections; its listeners' siblings keep the ports bound.
        const delay = Date.now() - slot.startedAt < 10_000 ? Math.min(30_000, 500 * 2 ** Math.min(restarts, 6)) : 200;
        this.log(`sidelane: worker ${index} (pid ${child.pid}) exited (${signal ?? code}); restarting in ${delay} ms`);
        this.restartsTotal.inc();
        setTimeout(() => {
          if (this.stopping) return;
          this.spawn(index, restarts + 1).catch((err: unknown) => this.log(`sidelane: worker ${index} restart failed: ${describeError(err)}`));
        }, delay).unref();
      });
      const start: ToWorker = { type: 'start', index, settings: { ...this.options.settings, logLevel: this.logLevel }, config: this.config, source: this.source };
      child.send(start);
    });
  }

  private broadcast(m: ToWorker): void {
    for (const s of this.slots) if (s.child.connected) s.child.send(m);
  }

  /** Asks every ready worker; resolves with the replies that arrived within the timeout. */
  private async ask(make: (id: number) => ToWorker, onlyFirst = false): Promise<Extract<FromWorker, { type: 'reply' }>[]> {
    const targets = this.slots.filter((s) => s.ready && s.child.connected);
    const asked = onlyFirst ? targets.slice(0, 1) : targets;
    const replies = await Promise.all(
      asked.map(
        (s) =>
          new Promise<Extract<FromWorker, { type: 'reply' }> | undefined>((resolve) => {
            const id = this.nextId++;
            const timer = setTimeout(() => {
              this.pending.delete(id);
              resolve(undefined);
            }, 5000);
            this.pending.set(id, { resolve, timer });
            s.child.send(make(id));
          }),
      ),
    );
    return replies.filter((r): r is Extract<FromWorker, { type: 'reply' }> => r !== undefined);
  }

  // ---------------------------------------------------------------------------------------------- admin API

  private registerAdmin(admin: AdminServer): void {
    admin.register('/server_info', {
      help: 'version, state, uptime, workers and options',
      handler: () =>
        json({
          version: this.options.version,
          state: this.state,
          uptime_current_epoch: Math.round((Date.now() - this.startedAt) / 1000),
          concurrency: this.options.concurrency,
          workers: this.slots.map((s) => ({ index: s.index, pid: s.child.pid, ready: s.ready, restarts: s.restarts, privileges: privilegesOf(s.child.pid) })),
          privileges: privilegesOf('self'),
          config_source: this.source,
          node: process.version,
          command_line_options: this.options.settings,
        }),
    });
    admin.register('/ready', { help: 'LIVE when ready for traffic (200), else the state (503)', handler: () => text(`${this.ready ? 'LIVE' : this.state}\n`, this.ready ? 200 : 503) });
    admin.register('/logging', {
      help: 'the log level; POST /logging?level=debug changes it in every worker',
      methods: ['GET', 'POST'],
      handler: (req) => {
        const level = req.query.get('level');
        if (req.method === 'POST' && level !== null) {
          if (!(LOG_LEVELS as readonly string[]).includes(level)) return text(`unknown level '${level}'; expected one of ${LOG_LEVELS.join(', ')}\n`, 400);
          this.logLevel = level as LogLevel;
          this.broadcast({ type: 'logging', level: this.logLevel });
        }
        return text(`active loggers:\n  sidelane: ${this.logLevel}\n  access_log: ${this.logLevel} (entries are written at info)\n`);
      },
    });
    admin.register('/drain_listeners', {
      help: 'stop taking new connections (refused), let open ones finish; the process stays up (not ready)',
      methods: ['POST'],
      handler: () => {
        this.state = 'DRAINING';
        this.broadcast({ type: 'drain', deadlineMs: this.options.drainTimeMs, exit: false });
        return text('OK\n');
      },
    });
    admin.register('/quitquitquit', {
      help: 'drain and exit',
      methods: ['POST'],
      handler: () => {
        setImmediate(() => void this.shutdown('quitquitquit'));
        return text('OK\n');
      },
    });
    admin.register('/stats/prometheus', { help: 'Prometheus metrics of every worker, aggregated', handler: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: await this.aggregatedMetrics() }) });
    admin.register('/stats', { help: 'counters as Envoy-style `name: value` lines (?format=json, ?filter=regex)', handler: (req) => this.stats(req) });
    admin.register('/clusters', { help: 'clusters with counters and endpoint health, summed over workers (?format=json)', handler: (req) => this.clusters(req) });
    if (this.options.configFile !== undefined) {
      admin.register('/reload', {
        help: 're-read the configuration file now (as SIGHUP)',
        methods: ['POST'],
        handler: () => {
          const r = this.reloader!.reload('admin');
          return text(`${r.message}\n`, r.ok ? 200 : 400);
        },
      });
    }
    // Everything else (config_dump, listeners, …) is the same in every worker: the first one answers.
    admin.setFallback(async (req) => {
      const [reply] = await this.ask((id) => ({ type: 'admin', id, method: req.method, path: req.path, query: req.query.toString(), body: req.body }), true);
      return reply?.admin ?? text('no worker is ready to answer\n', 503);
    });
  }

  private async clusterViews(): Promise<ClusterStatusJson[]> {
    const replies = await this.ask((id) => ({ type: 'admin', id, method: 'GET', path: '/clusters', query: 'format=json', body: '' }));
    const views = replies.map((r) => (JSON.parse(String(r.admin?.body ?? '{}')) as { cluster_statuses?: ClusterStatusJson[] }).cluster_statuses ?? []);
    return mergeClusterViews(views);
  }

  private async clusters(req: AdminRequest): Promise<AdminResponse> {
    const merged = await this.clusterViews();
    return req.query.get('format') === 'json' ? json({ cluster_statuses: merged }) : text(clustersTextFromJson(merged));
  }

  private async stats(req: AdminRequest): Promise<AdminResponse> {
    const entries: [string, number][] = [];
    for (const c of await this.clusterViews()) for (const [k, v] of Object.entries(c.stats)) entries.push([`cluster.${c.name}.${k}`, v]);
    const metrics = (await this.workerMetrics()).flat() as { name: string; values: { value: number; labels: Record<string, string> }[] }[];
    const sums = new Map<string, number>();
    for (const m of metrics) {
      if (!m.name.startsWith('sidelane_')) continue;
      for (const v of m.values) {
        const key = `${m.name.replace(/^sidelane_/, 'sidelane.')}${Object.values(v.labels).map((x) => `.${x}`).join('')}`;
        sums.set(key, (sums.get(key) ?? 0) + v.value);
      }
    }
    entries.push(...sums.entries());
    entries.push(['server.live', this.state === 'LIVE' ? 1 : 0], ['server.state', this.state === 'LIVE' ? 0 : this.state === 'DRAINING' ? 1 : 2]);
    entries.push(['server.concurrency', this.options.concurrency], ['server.uptime', Math.round((Date.now() - this.startedAt) / 1000)]);
    const filter = req.query.get('filter');
    let re: RegExp | undefined;
    try {
      re = filter ? new RegExp(filter) : undefined;
    } catch {
      return text(`invalid filter regex: ${filter}\n`, 400);
    }
    const shown = entries.filter(([k]) => !re || re.test(k)).sort(([a], [b]) => a.localeCompare(b));
    if (req.query.get('format') === 'json') return json({ stats: shown.map(([name, value]) => ({ name, value })) });
    return text(`${shown.map(([k, v]) => `${k}: ${v}`).join('\n')}\n`);
  }

  private async workerMetrics(): Promise<unknown[][]> {
    const replies = await this.ask((id) => ({ type: 'metrics', id }));
    return replies.map((r) => r.metrics ?? []);
  }

  private async aggregatedMetrics(): Promise<string> {
    const all = [...(await this.workerMetrics()), await this.registry.getMetricsAsJSON()];
    return AggregatorRegistry.aggregate(all as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  }

  // ------------------------------------------------------------------------------------- health and metrics

  private async serve(port: number, handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<void> {
    for (const host of ['0.0.0.0', '::']) {
      const server = http.createServer(handler);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port, host, ipv6Only: host === '::' }, () => resolve());
        });
      } catch (err) {
        if (host === '::') continue; // no IPv6 in this namespace
        throw new SidelaneError('SIDELANE_ERR_SYSCALL', `cannot listen on ${host}:${port}: ${describeError(err)}`);
      }
      this.servers.push(server);
      if (port === 0) port = (server.address() as net.AddressInfo).port;
    }
  }

  private health(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://health');
    if (url.pathname !== '/healthz/ready') {
      res.writeHead(404).end();
      return;
    }
    const ok = this.ready;
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? '' : `${this.state}\n`);
  }

  private async prometheus(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://metrics');
    if (url.pathname !== '/stats/prometheus' && url.pathname !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await this.aggregatedMetrics();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
    } catch (err) {
      res.writeHead(500).end(`${describeError(err)}\n`);
    }
  }

  /** Ports the health and metrics servers got (tests using port 0). */
  get boundPorts(): number[] {
    return this.servers.map((s) => (s.address() as net.AddressInfo).port);
  }

  private log(line: string): void {
    (this.options.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(line);
  }
}

/** The user and capabilities a process runs with, as one line (undefined once it is gone). */
function privilegesOf(pid: number | 'self' | undefined): string | undefined {
  if (pid === undefined) return undefined;
  try {
    return describeCredentials(readCredentials(pid));
  } catch {
    return undefined;
  }
}
