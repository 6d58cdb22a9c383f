/**
 * A churn client for load tests: holds N TCP connections to echo servers (test/support/apps/echo-server, default
 * mode) for a while, replacing each one when its lifetime ends, so connections keep opening and closing while N
 * stay established. Every connection is checked end to end: the server's `peer …` line (and with --expect-peer
 * the address it saw), a random payload echoed byte for byte right after connecting and again before closing,
 * then FIN both ways with nothing extra. Any other outcome is a failure, counted by reason.
 *
 * Usage: node tcp-churn.js --target HOST:PORT [--target …] --connections N --duration-ms D [--rate R]
 *          [--ramp-rate R] [--payload BYTES] [--expect-peer ADDR] [--timeout-ms T] [--log-connections]
 *  --rate R       new connections per second once N are held (each lives N/R s on average: uniform 0.5-1.5×);
 *                 0 = no churn, every connection is held until the end
 *  --ramp-rate R  how fast the first N are opened (per second, default 1000)
 * Targets are used round-robin ([v6]:port for IPv6). Ends early on SIGTERM/SIGINT or a `stop` line on stdin.
 * Prints JSON lines on stdout: {type: 'progress', …} every second, with --log-connections {type: 'connection', t,
 * server} as each connection is established (server: the name an echo-server with ECHO_NAME puts on its peer
 * line), and {type: 'summary', …} at the end.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import readline from 'node:readline';
import { parseArgs } from 'node:util';

interface Target {
  readonly host: string;
  readonly port: number;
}

const { values } = parseArgs({
  options: {
    target: { type: 'string', multiple: true },
    connections: { type: 'string', default: '100' },
    'duration-ms': { type: 'string', default: '10000' },
    rate: { type: 'string', default: '50' },
    'ramp-rate': { type: 'string', default: '1000' },
    payload: { type: 'string', default: '64' },
    'expect-peer': { type: 'string' },
    'timeout-ms': { type: 'string', default: '20000' },
    'log-connections': { type: 'boolean', default: false },
  },
});

function positive(name: string, text: string, allowZero = false): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw new Error(`tcp-churn: --${name} expects a ${allowZero ? 'non-negative' : 'positive'} number, got ${text}`);
  return n;
}

function parseTarget(text: string): Target {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) throw new Error(`tcp-churn: --target expects HOST:PORT or [V6]:PORT, got ${text}`);
  return { host: m[1]!, port: Number(m[2]) };
}

const targets = (values.target ?? []).map(parseTarget);
if (targets.length === 0) throw new Error('tcp-churn: at least one --target HOST:PORT is required');
const held = Math.floor(positive('connections', values.connections));
const durationMs = positive('duration-ms', values['duration-ms']);
const rate = positive('rate', values.rate, true);
const rampRate = positive('ramp-rate', values['ramp-rate']);
const payloadBytes = Math.floor(positive('payload', values.payload));
const expectPeer = values['expect-peer'];
const timeoutMs = positive('timeout-ms', values['timeout-ms']);
/** Mean lifetime of a connection in steady state; Infinity without churn. */
const meanLifeMs = rate > 0 ? (held / rate) * 1000 : Infinity;

const stats = {
  opened: 0,
  ok: 0,
  failed: 0,
  exchanges: 0,
  established: 0,
  peakEstablished: 0,
  errors: {} as Record<string, number>,
  peers: {} as Record<string, number>,
  /** Longest time from connect() to connected, and to the server's first line (a hook waiting for a proxy). */
  maxConnectMs: 0,
  /** Counts by the server's name (`name=…` on the peer line: echo-server with ECHO_NAME). */
  servers: {} as Record<string, number>,
};
/** --log-connections: one line per connection when it is established (time, server name). */
const logConnections = values['log-connections'] === true;

/** Buffers a socket's bytes and hands them out as lines or exact lengths, failing on error, EOF or timeout. */
class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended = false;
  private failure: string | undefined;

  constructor(socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.failure ??= e.code ?? e.message;
      this.wake();
    });
    socket.on('close', () => {
      this.failure ??= 'closed';
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Waits until `ready()` returns a value; rejects with the reason the connection cannot deliver it. */
  private async until<T>(what: string, ready: () => T | undefined): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = ready();
      if (v !== undefined) return v;
      if (this.failure !== undefined) throw new Error(`${what}: ${this.failure}`);
      if (this.ended) throw new Error(`${what}: eof`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: timeout`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  line(what: string): Promise<string> {
    return this.until(what, () => {
      const nl = this.buf.indexOf(10);
      if (nl < 0) return undefined;
      const l = this.buf.subarray(0, nl).toString('latin1');
      this.buf = this.buf.subarray(nl + 1);
      return l;
    });
  }

  bytes(what: string, n: number): Promise<Buffer> {
    return this.until(what, () => {
      if (this.buf.length < n) return undefined;
      const b = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      return b;
    });
  }

  /** Resolves with the number of unexpected bytes once the peer's FIN arrived. */
  async eof(what: string): Promise<number> {
    await this.until(what, () => (this.ended ? true : undefined));
    return this.buf.length;
  }
}

let stopping = false;
const wakeOnStop = new Set<() => void>();
let nextTarget = 0;

function note(reason: string): void {
  stats.failed += 1;
  stats.errors[reason] = (stats.errors[reason] ?? 0) + 1;
}

function connect(target: Target): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('connect: timeout'));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(`connect: ${e.code ?? e.message}`));
    });
  });
}

async function exchange(s: net.Socket, r: Reader, what: string): Promise<void> {
  const payload = randomBytes(payloadBytes);
  s.write(payload);
  const echo = await r.bytes(what, payload.length);
  if (!echo.equals(payload)) throw new Error(`${what}: echo mismatch`);
  stats.exchanges += 1;
}

/** One connection's whole life; resolves when it ended (counted as ok or failed). */
async function life(lifetimeMs: number): Promise<void> {
  const target = targets[nextTarget++ % targets.length]!;
  stats.opened += 1;
  let s: net.Socket | undefined;
  let isEstablished = false;
  const t0 = Date.now();
  try {
    s = await connect(target);
    const r = new Reader(s);
    const [word, peer = '?', , named] = (await r.line('peer line')).split(' ');
    stats.maxConnectMs = Math.max(stats.maxConnectMs, Date.now() - t0);
    if (word !== 'peer') throw new Error('peer line: unexpected greeting');
    stats.peers[peer] = (stats.peers[peer] ?? 0) + 1;
    const server = named?.startsWith('name=') ? named.slice(5) : '-';
    stats.servers[server] = (stats.servers[server] ?? 0) + 1;
    if (logConnections) process.stdout.write(`{"type":"connection","t":${Date.now()},"server":${JSON.stringify(server)}}\n`);
    if (expectPeer !== undefined && peer !== expectPeer) throw new Error(`peer line: server saw ${peer}`);
    await exchange(s, r, 'first exchange');
    isEstablished = true;
    stats.established += 1;
    stats.peakEstablished = Math.max(stats.peakEstablished, stats.established);
    if (!stopping) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          wakeOnStop.delete(done);
          resolve();
        };
        const timer = Number.isFinite(lifetimeMs) ? setTimeout(done, lifetimeMs) : undefined;
        wakeOnStop.add(done);
      });
    }
    await exchange(s, r, 'last exchange');
    s.end();
    const extra = await r.eof('close');
    if (extra > 0) throw new Error('close: unexpected bytes');
    stats.ok += 1;
  } catch (err) {
    note(err instanceof Error ? err.message : String(err));
  } finally {
    if (isEstablished) stats.established -= 1;
    s?.destroy();
  }
}

const uniform = (lo: number, hi: number): number => lo + Math.random() * (hi - lo);

/** Opens a connection and, when it ends, its replacement (until the run stops). */
async function slot(firstLifeMs: number): Promise<void> {
  let lifetime = firstLifeMs;
  for (;;) {
    const failedBefore = stats.failed;
    await life(lifetime);
    if (stopping) return;
    // A failing target must not turn the loop into a busy spin.
    if (stats.failed > failedBefore) await new Promise((r) => setTimeout(r, 50));
    lifetime = uniform(0.5 * meanLifeMs, 1.5 * meanLifeMs);
  }
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  for (const w of [...wakeOnStop]) w();
}

const progress = (): string =>
  JSON.stringify({ elapsedMs: Date.now() - started, established: stats.established, opened: stats.opened, ok: stats.ok, failed: stats.failed });

const started = Date.now();
async function main(): Promise<void> {
  const ticker = setInterval(() => process.stdout.write(`{"type":"progress",${progress().slice(1)}\n`), 1000);
  const endTimer = setTimeout(stop, durationMs);
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  readline.createInterface({ input: process.stdin }).on('line', (l) => {
    if (l.trim() === 'stop') stop();
  });
  const slots: Promise<void>[] = [];
  // The first N are opened at the ramp rate, with lifetimes spread over (0, 2×mean) so the churn is steady from
  // the start instead of arriving in waves.
  const perTick = Math.max(1, Math.round(rampRate / 100));
  for (let i = 0; i < held && !stopping; i += perTick) {
    for (let j = i; j < Math.min(held, i + perTick); j++) slots.push(slot(Number.isFinite(meanLifeMs) ? uniform(0, 2 * meanLifeMs) : Infinity));
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(slots);
  clearInterval(ticker);
  clearTimeout(endTimer);
  const elapsedMs = Date.now() - started;
  process.stdout.write(
    `${JSON.stringify({
      type: 'summary',
      elapsedMs,
      connections: held,
      targets: targets.length,
      opened: stats.opened,
      ok: stats.ok,
      failed: stats.failed,
      exchanges: stats.exchanges,
      peakEstablished: stats.peakEstablished,
      connectionsPerSecond: Math.round((stats.opened / elapsedMs) * 1000),
      maxConnectMs: stats.maxConnectMs,
      errors: stats.errors,
      peers: stats.peers,
      servers: stats.servers,
    })}\n`,
  );
  process.exit(0);
}
void main();
