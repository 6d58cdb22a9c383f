/**
 * One worker process of `sidelane run`: builds the data plane (routing state, HTTP connection managers, routers,
 * listeners on SO_REUSEPORT sockets shared with the other workers), its metrics registry and access log, and
 * answers the supervisor — admin views, metrics, configuration changes, log levels, drain.
 */
import type pino from 'pino';
import { AdminServer } from '../admin/admin-server';
import { registerRoutingEndpoints } from '../admin/routing-endpoints';
import type { SidelaneConfig } from '../config/schema';
import { describeError, SidelaneError } from '../errors';
import { HttpConnectionManager } from '../http/connection-manager';
import { InboundRouter } from '../inbound/inbound-router';
import { OutboundRouter } from '../outbound/outbound-router';
import { subscribeAccessLog } from '../telemetry/access-log';
import { channels, type FdExhaustedEvent } from '../telemetry/events';
import { FdExhaustionLog } from '../telemetry/fd-exhaustion-log';
import { createAccessLogger, createLogger, type LogLevel } from '../telemetry/logger';
import { ProxyMetrics } from '../telemetry/metrics';
import { NativeConnector } from '../transport/connector';
import { NativeRelay } from '../transport/native-relay';
import { systemClock } from '../upstream/clock';
import { mathRandom } from '../upstream/random-source';
import type { FromWorker, ToWorker, WorkerSettings } from './ipc';
import { describeApply, RoutingState } from './routing-state';
import { Sidecar } from './sidecar';

export class Worker {
  readonly state: RoutingState;
  readonly sidecar: Sidecar;
  readonly metrics: ProxyMetrics;
  readonly log: pino.Logger;
  private readonly accessLog: pino.Logger | undefined;
  private readonly admin = new AdminServer({ port: 0 });
  private readonly http: HttpConnectionManager[];
  /** The native relay engine (one per process), on the native data path. */
  readonly relay: NativeRelay | undefined;

  constructor(
    readonly index: number,
    readonly settings: WorkerSettings,
    config: SidelaneConfig,
    source: string,
  ) {
    this.log = createLogger(settings.logLevel, { worker: index, pid: process.pid });
    this.accessLog = createAccessLogger(settings.accessLog, settings.logLevel);
    const connector = new NativeConnector();
    const clock = systemClock;
    const random = mathRandom;
    const o = settings.sidecar;
    this.state = new RoutingState(
      { connector, clock, random, bypassMark: o.bypassMark },
      {
        preserveSource: settings.preserveSource,
        connectTimeoutMs: settings.connectTimeoutMs,
        idleTimeoutMs: settings.idleTimeoutMs,
        inboundPort: o.inboundPort,
        outboundPort: o.outboundPort,
      },
    );
    const peerViews = new WeakMap<object, { host: string; labels: Readonly<Record<string, string>> }>();
    this.metrics = new ProxyMetrics({
      workload: () => (this.state.hasConfig ? this.state.current.workload : undefined),
      peer: (address) => {
        const p = this.state.hasConfig ? this.state.current.snapshot.registry.peer(address) : undefined;
        if (p === undefined) return undefined;
        // One object per registry entry: metrics remember label sets by it.
        let view = peerViews.get(p);
        if (view === undefined) peerViews.set(p, (view = { host: p.service.host, labels: p.labels }));
        return view;
      },
      generation: () => (this.state.hasConfig ? this.state.current : undefined),
      clusters: () => (this.state.hasConfig ? this.state.current.clusters.values() : []),
      activeConnections: () => this.sidecar.activeConnections(),
      relay: () => this.relay?.stats(),
      meshCluster: settings.meshCluster,
    });
    if (this.accessLog) subscribeAccessLog(this.accessLog);
    const fdLog = new FdExhaustionLog({ warn: (fields, message) => this.log.warn(fields, message), clock });
    channels.fdExhausted.subscribe((e) => fdLog.note(e as FdExhaustedEvent));
    this.state.apply(config, source, 'startup');
    registerRoutingEndpoints(this.admin, this.state);
    const httpOptions = { routing: this.state, clock, random, idleTimeoutMs: settings.idleTimeoutMs, requestHeadersTimeoutMs: settings.requestHeadersTimeoutMs };
    const outboundHttp = new HttpConnectionManager({ direction: 'outbound', ...httpOptions });
    const inboundHttp = new HttpConnectionManager({ direction: 'inbound', ...httpOptions });
    this.http = [outboundHttp, inboundHttp];
    // Native data path: TCP-proxied connections are relayed by native threads (one per worker process: the workers
    // already spread connections over the cores).
    const relay = (o.dataPath ?? 'native') === 'native' ? new NativeRelay({ threads: 1 }) : undefined;
    this.relay = relay;
    this.sidecar = new Sidecar(o, connector, {
      inbound: new InboundRouter(this.state, { connector, http: inboundHttp, random, relay }),
      outbound: new OutboundRouter(this.state, { connector, http: outboundHttp, random, relay }),
    });
  }

  async start(): Promise<void> {
    await this.sidecar.start();
  }

  setLogLevel(level: LogLevel): void {
    this.log.level = level;
    if (this.accessLog) this.accessLog.level = level;
  }

  /** Refuse new connections, let open ones finish (HTTP with `Connection: close`), force-close at the deadline. */
  async drain(deadlineMs: number): Promise<void> {
    this.sidecar.drain();
    for (const m of this.http) m.startDrain();
    const until = Date.now() + deadlineMs;
    while (Date.now() < until) {
      const a = this.sidecar.activeConnections();
      if (a.inbound + a.outbound === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const left = this.sidecar.activeConnections();
    if (left.inbound + left.outbound > 0) this.log.warn({ left }, 'drain deadline reached: closing the remaining connections');
    this.sidecar.closeAll();
    this.accessLog?.flush();
  }

  /** Handles one supervisor message. */
  async onMessage(m: ToWorker, send: (r: FromWorker) => void): Promise<void> {
    switch (m.type) {
      case 'apply':
        try {
          this.log.info({ trigger: m.trigger }, `configuration applied: ${describeApply(this.state.apply(m.config, m.source, m.trigger))}`);
        } catch (err) {
          this.log.error({ err: describeError(err) }, 'configuration could not be applied');
        }
        return;
      case 'refused':
        this.state.refused(m.message, m.source, m.trigger);
        return;
      case 'admin': {
        const admin = await this.admin.handle({ method: m.method, path: m.path, query: new URLSearchParams(m.query), body: m.body });
        send({ type: 'reply', id: m.id, admin });
        return;
      }
      case 'metrics':
        send({ type: 'reply', id: m.id, metrics: await this.metrics.registry.getMetricsAsJSON() });
        return;
      case 'logging':
        this.setLogLevel(m.level);
        return;
      case 'drain':
        await this.drain(m.deadlineMs);
        send({ type: 'drained' });
        if (m.exit) {
          await this.sidecar.stopAccepting();
          process.exit(0);
        }
        return;
      case 'start':
        throw new SidelaneError('SIDELANE_ERR_ADMIN', 'worker started twice');
    }
  }
}
