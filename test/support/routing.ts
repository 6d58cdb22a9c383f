/**
 * A routing harness for integration tests: real sockets on loopback, a listener (the real CapturedListener, on
 * either data path) that hands every accepted connection to the inbound or outbound router with a chosen original
 * destination (as capture would), real upstream HTTP servers on port 0. The js data path uses net.Server, the
 * PlainConnector (no marks, no root needed) and the JavaScript relay; the native path uses the native acceptor,
 * NativeConnector and the native relay (root: the inbound source 127.0.0.6 is bound transparently).
 */
import http from 'node:http';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { origDst } from '../../src/transport/address';
import { CapturedListener, type DataPath, type Incoming } from '../../src/transport/captured-listener';
import { NativeConnector, PlainConnector, type Connector } from '../../src/transport/connector';
import type { ConnectionHandler, Direction } from '../../src/transport/downstream';
import { NativeRelay } from '../../src/transport/native-relay';
import { parseConfig } from '../../src/config/loader';
import type { SidelaneConfig } from '../../src/config/schema';
import { DEFAULT_SNAPSHOT_OPTIONS, type SnapshotOptions } from '../../src/config/snapshot';
import { HttpConnectionManager } from '../../src/http/connection-manager';
import { InboundRouter } from '../../src/inbound/inbound-router';
import { OutboundRouter } from '../../src/outbound/outbound-router';
import { RoutingState } from '../../src/sidecar/routing-state';
import { systemClock, type Clock } from '../../src/upstream/clock';
import { mathRandom, type RandomSource } from '../../src/upstream/random-source';

export type { DataPath };

export interface Harness {
  readonly state: RoutingState;
  readonly http: HttpConnectionManager;
  readonly listener: HarnessListener;
  readonly dataPath: DataPath;
  /** Port the test client connects to (on 127.0.0.1). */
  readonly port: number;
  /** The original destination the next accepted connections get. */
  dst: { address: string; port: number };
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly direction?: Direction;
  readonly connector?: Connector;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly snapshot?: Partial<SnapshotOptions>;
  readonly dst?: { address: string; port: number };
  /** Default js. */
  readonly dataPath?: DataPath;
  /** The HTTP connection manager's request-headers timeout (its default otherwise). */
  readonly requestHeadersTimeoutMs?: number;
}

/** A captured listener on 127.0.0.1:0 whose "capture" gives every connection the harness's original destination. */
export class HarnessListener extends CapturedListener {
  constructor(
    direction: Direction,
    handler: ConnectionHandler,
    dataPath: DataPath,
    private readonly dst: () => { address: string; port: number },
  ) {
    super(direction, { port: 0, ipv6: false, captureMode: 'tproxy', bypassMark: 0, reusePort: false, handler, dataPath, addresses: ['127.0.0.1'] });
  }

  protected accept(c: Incoming): void {
    const d = this.dst();
    this.dispatch(c, origDst(d.address, d.port), 'tproxy');
  }
}

let sharedRelay: NativeRelay | undefined;
let sharedConnector: NativeConnector | undefined;

/** The process's native relay for tests (one engine per process; an idle engine does not keep it alive). */
export function testRelay(): NativeRelay {
  return (sharedRelay ??= new NativeRelay({ threads: 1 }));
}

export function testNativeConnector(): NativeConnector {
  return (sharedConnector ??= new NativeConnector());
}

/**
 * Defines `body` as a test once per data path (`name [native]`, `name [js]`). The native variant needs root (the
 * transparent source bind of inbound connections); without it it is skipped loudly, and fails under CI=true.
 */
export function forEachDataPath(name: string, body: (t: TestContext, dataPath: DataPath) => Promise<void>, options: { timeout?: number } = {}): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { test } = require('node:test') as typeof import('node:test');
  for (const dataPath of ['native', 'js'] as const) {
    test(`${name} [${dataPath}]`, options, async (t) => {
      if (dataPath === 'native' && process.getuid?.() !== 0) {
        const msg = 'SKIPPED: the native data path variant needs root (CAP_NET_ADMIN for transparent source binds)';
        if (process.env.CI === 'true') throw new Error(`${msg}; CI=true makes this a failure`);
        process.stderr.write(`\n*** ${msg}: ${t.name} ***\n`);
        t.skip(msg);
        return;
      }
      await body(t, dataPath);
    });
  }
}

export async function startHarness(config: SidelaneConfig | string, options: HarnessOptions = {}): Promise<Harness> {
  const direction = options.direction ?? 'outbound';
  const dataPath = options.dataPath ?? 'js';
  const clock = options.clock ?? systemClock;
  const random = options.random ?? mathRandom;
  const connector = options.connector ?? (dataPath === 'native' ? testNativeConnector() : new PlainConnector());
  const relay = dataPath === 'native' ? testRelay() : undefined;
  const state = new RoutingState(
    { connector, clock, random, bypassMark: 0 },
    { ...DEFAULT_SNAPSHOT_OPTIONS, preserveSource: false, ...options.snapshot },
  );
  const cfg = typeof config === 'string' ? parseConfig(config, 'test.yaml') : config;
  state.apply(cfg, 'test.yaml');
  const httpManager = new HttpConnectionManager({
    direction,
    routing: state,
    clock,
    random,
    idleTimeoutMs: 60_000,
    ...(options.requestHeadersTimeoutMs !== undefined ? { requestHeadersTimeoutMs: options.requestHeadersTimeoutMs } : {}),
  });
  const deps = { connector, http: httpManager, random, relay };
  const handler: ConnectionHandler = direction === 'outbound' ? new OutboundRouter(state, deps) : new InboundRouter(state, deps);
  let dst = options.dst ?? { address: '198.19.0.1', port: 9080 };
  const listener = new HarnessListener(direction, handler, dataPath, () => dst);
  await listener.start();
  return {
    state,
    http: httpManager,
    listener,
    dataPath,
    port: listener.boundPort,
    get dst() {
      return dst;
    },
    set dst(d) {
      dst = d;
    },
    close: async () => {
      await listener.stop();
      listener.closeAll();
      httpManager.destroyAll();
      await state.destroy();
    },
  };
}

/** An upstream HTTP server on 127.0.0.1:0; the handler decides each response. */
export async function startUpstream(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ server: http.Server; port: number; requests: number; close(): Promise<void> }> {
  const up = { server: undefined as unknown as http.Server, port: 0, requests: 0, close: async () => undefined as void };
  const server = http.createServer((req, res) => {
    up.requests += 1;
    handler(req, res);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  up.server = server;
  up.port = (server.address() as net.AddressInfo).port;
  up.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return up;
}

export interface ClientResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One request through the harness (own keep-alive agent optional). */
export function request(
  port: number,
  options: { path?: string; method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: http.Agent } = {},
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: options.path ?? '/', method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Collects `sidelane:http:request` events while a test runs. */
export function captureHttpEvents(): { events: import('../../src/telemetry/events').HttpRequestEvent[]; stop(): void; next(): Promise<import('../../src/telemetry/events').HttpRequestEvent> } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dc = require('node:diagnostics_channel') as typeof import('node:diagnostics_channel');
  const events: import('../../src/telemetry/events').HttpRequestEvent[] = [];
  const waiters: ((e: import('../../src/telemetry/events').HttpRequestEvent) => void)[] = [];
  const fn = (m: unknown): void => {
    const e = m as import('../../src/telemetry/events').HttpRequestEvent;
    events.push(e);
    waiters.shift()?.(e);
  };
  dc.subscribe('sidelane:http:request', fn);
  let seen = 0;
  return {
    events,
    stop: () => dc.unsubscribe('sidelane:http:request', fn),
    next: () => {
      if (events.length > seen) return Promise.resolve(events[seen++]!);
      seen += 1;
      return new Promise((r) => waiters.push(r));
    },
  };
}

/** A TCP port on 127.0.0.1 where nothing listens (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
