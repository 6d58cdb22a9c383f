/**
 * Benchmark of the data path alone (not a test): bulk throughput, new connections per second and memory per idle
 * relayed connection through (a) the JavaScript relay, (b) the native relay and (c) no proxy, on loopback.
 * The proxy runs in a child process so its CPU and RSS are its own; the load generator and the upstream server
 * run in this process. Usage: node dist/scripts/bench-relay.js [--quick] [--json FILE] [options]
 */
import { execFile, fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { addon } from '../src/native/addon';
import { NativeConnector } from '../src/transport/connector';
import { NativeAcceptor, type AcceptedConnection } from '../src/transport/native-acceptor';
import { NativeRelay } from '../src/transport/native-relay';
import { relay } from '../src/transport/relay';

type Mode = 'direct' | 'js' | 'native';
const HOST = '127.0.0.1';

// ---- the proxy (child process) --------------------------------------------------------------------------------

interface ProxyReport {
  rss: number;
  cpuMicros: number;
  active: number;
}

function runProxy(mode: 'js' | 'native', upstreamPort: number, threads: number, pipeSize: number): void {
  const connector = new NativeConnector();
  const target = { address: HOST, port: upstreamPort, family: 4 as const };
  let active = 0;
  let port: number;
  if (mode === 'js') {
    // Today's data path: net.Server, the native connector handing back a net.Socket, the JavaScript relay.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (down) => {
      active += 1;
      down.pause();
      down.on('error', () => undefined);
      connector.connect({ target }).then(
        (up) => {
          down.resume();
          void relay(down, up, {}).then(() => (active -= 1));
        },
        () => {
          active -= 1;
          down.resetAndDestroy();
        },
      );
    });
    const fd = addon().listen({ family: 4, address: HOST, port: 0, transparent: false, reusePort: false, backlog: 8192 });
    server.listen({ fd });
    port = addon().localAddress(fd).port;
  } else {
    // The native data path: no net.Socket at all.
    const engine = new NativeRelay({ threads, pipeSize });
    const fd = addon().listen({ family: 4, address: HOST, port: 0, transparent: false, reusePort: false, backlog: 8192 });
    const acceptor = new NativeAcceptor(fd, { batch: 128 });
    const onDone = (): void => {
      active -= 1;
    };
    acceptor.on('connection', (c: AcceptedConnection) => {
      active += 1;
      connector.connectFd({ target }).then(
        (upFd) => engine.start(c.fd, upFd, {}, null, onDone),
        () => {
          active -= 1;
          addon().closeFd(c.fd);
        },
      );
    });
    acceptor.start();
    port = addon().localAddress(fd).port;
  }
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'report') {
      (globalThis as { gc?: () => void }).gc?.();
      const u = process.cpuUsage();
      const report: ProxyReport = { rss: process.memoryUsage.rss(), cpuMicros: u.user + u.system, active };
      process.send!(report);
    } else if (m.cmd === 'exit') {
      process.exit(0);
    }
  });
  process.send!({ port });
}

class ProxyChild {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(mode: 'js' | 'native', upstreamPort: number, threads: number, pipeSize = 0): Promise<ProxyChild> {
    const args = ['--proxy', mode, '--upstream', String(upstreamPort), '--threads', String(threads), '--pipe-size', String(pipeSize)];
    const child = fork(__filename, args, {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port: number }) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`proxy exited with ${code}`)));
    });
    return new ProxyChild(child, port);
  }

  report(): Promise<ProxyReport> {
    return new Promise((resolve) => {
      this.child.once('message', (m: ProxyReport) => resolve(m));
      this.child.send({ cmd: 'report' });
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'exit' });
    await exited;
  }
}

// ---- the upstream server and the load (this process) ---------------------------------------------------------

interface Upstream {
  port: number;
  received: number;
  held: net.Socket[];
  mode: 'sink' | 'echo-close' | 'hold';
  close(): void;
}

async function upstream(): Promise<Upstream> {
  const u: Upstream = { port: 0, received: 0, held: [], mode: 'sink', close: () => server.close() };
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    s.on('error', () => undefined);
    if (u.mode === 'sink') {
      s.on('data', (d: Buffer) => (u.received += d.length));
      s.on('end', () => s.end());
    } else if (u.mode === 'echo-close') {
      s.once('data', () => s.end('pong'));
    } else {
      u.held.push(s);
    }
  });
  server.maxConnections = 100_000;
  await new Promise<void>((r) => server.listen({ port: 0, host: HOST, backlog: 8192 }, r));
  u.port = (server.address() as net.AddressInfo).port;
  return u;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: HOST, noDelay: true, allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** One connection pushing `bytes` upstream as fast as the path takes them; returns Gbit/s. */
async function bulk(port: number, up: Upstream, bytes: number): Promise<number> {
  up.mode = 'sink';
  const s = await connect(port);
  const start = up.received;
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  const t0 = process.hrtime.bigint();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!s.write(chunk)) return;
      }
      s.end();
    };
    s.on('drain', pump);
    s.resume();
    s.on('end', () => resolve()); // the sink ends after it has read everything
    pump();
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (up.received - start < bytes) throw new Error(`bulk: upstream got ${up.received - start} of ${bytes} bytes`);
  s.destroy();
  return (bytes * 8) / seconds / 1e9;
}

/** `concurrency` loops of connect → 4-byte request → response + FIN → close, for `ms`; returns connections/s. */
async function connectionRate(port: number, up: Upstream, concurrency: number, ms: number): Promise<{ rate: number; failed: number }> {
  up.mode = 'echo-close';
  let done = 0;
  let failed = 0;
  const deadline = Date.now() + ms;
  const t0 = process.hrtime.bigint();
  const loop = async (): Promise<void> => {
    while (Date.now() < deadline) {
      try {
        await new Promise<void>((resolve, reject) => {
          const s = net.connect({ port, host: HOST, noDelay: true });
          s.once('connect', () => s.write('ping'));
          s.on('data', () => undefined);
          s.once('end', () => {
            s.destroy();
            resolve();
          });
          s.once('error', reject);
        });
        done += 1;
      } catch {
        failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { rate: done / seconds, failed };
}

/** RSS growth of the proxy per idle relayed connection, over `count` connections held open. */
async function idleMemory(proxy: ProxyChild, up: Upstream, count: number): Promise<number> {
  up.mode = 'hold';
  up.held = [];
  const before = await proxy.report();
  const clients: net.Socket[] = [];
  for (let i = 0; i < count; i += 250) {
    const batch = await Promise.all(Array.from({ length: Math.min(250, count - i) }, () => connect(proxy.port)));
    clients.push(...batch);
  }
  const deadline = Date.now() + 20_000;
  while (up.held.length < count || (await proxy.report()).active < count) {
    if (Date.now() > deadline) throw new Error(`idle: only ${up.held.length}/${count} connections reached upstream`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));
  const after = await proxy.report();
  for (const c of clients) c.destroy();
  for (const s of up.held) s.destroy();
  up.held = [];
  return (after.rss - before.rss) / count;
}

/** iperf3 (when installed) generates bulk load without a JavaScript thread in the way: one stream, `seconds`. */
function iperf3Available(): boolean {
  return spawnSync('iperf3', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function iperf3Server(): Promise<{ port: number; stop(): void }> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, HOST, r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const child = spawn('iperf3', ['-s', '-B', HOST, '-p', String(port)], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host: HOST });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, stop: () => child.kill() };
}

function iperf3Bulk(port: number, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('iperf3', ['-c', HOST, '-p', String(port), '-t', String(seconds), '-J'], { maxBuffer: 16 << 20 }, (err, stdout) => {
      if (err) return reject(new Error(`iperf3 failed: ${err.message} ${stdout.slice(0, 500)}`));
      const r = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } };
      resolve(r.end.sum_received.bits_per_second / 1e9);
    });
  });
}

function median(xs: number[]): number | undefined {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      proxy: { type: 'string' },
      upstream: { type: 'string' },
      threads: { type: 'string', default: '1' },
      'pipe-size': { type: 'string', default: '0' },
      quick: { type: 'boolean', default: false },
      'bulk-mib': { type: 'string' },
      'duration-ms': { type: 'string' },
      concurrency: { type: 'string', default: '32' },
      idle: { type: 'string' },
      reps: { type: 'string' },
      json: { type: 'string' },
      'bulk-tool': { type: 'string', default: 'auto' },
      only: { type: 'string', default: 'bulk,conn,idle' },
    },
  });
  if (values.proxy) {
    runProxy(values.proxy as 'js' | 'native', Number(values.upstream), Number(values.threads), Number(values['pipe-size']));
    return;
  }
  const quick = values.quick;
  const bulkBytes = Number(values['bulk-mib'] ?? (quick ? 256 : 1024)) * 1024 * 1024;
  const durationMs = Number(values['duration-ms'] ?? (quick ? 2000 : 4000));
  const concurrency = Number(values.concurrency);
  const idleCount = Number(values.idle ?? (quick ? 2000 : 5000));
  const reps = Number(values.reps ?? (quick ? 1 : 3));
  const threads = Number(values.threads);
  const pipeSize = Number(values['pipe-size']);
  const only = new Set(values.only.split(','));

  const useIperf = values['bulk-tool'] === 'iperf3' || (values['bulk-tool'] === 'auto' && iperf3Available());
  const bulkSeconds = quick ? 2 : 4;
  const up = await upstream();
  const iperf = useIperf ? await iperf3Server() : undefined;
  const bulkProxies = iperf
    ? { js: await ProxyChild.start('js', iperf.port, threads), native: await ProxyChild.start('native', iperf.port, threads, pipeSize) }
    : undefined;
  const results: Record<Mode, { bulkGbps: number[]; connPerSec: number[]; failed: number; cpuPerGB?: number; cpuPerConn?: number; idleBytes?: number }> = {
    direct: { bulkGbps: [], connPerSec: [], failed: 0 },
    js: { bulkGbps: [], connPerSec: [], failed: 0 },
    native: { bulkGbps: [], connPerSec: [], failed: 0 },
  };
  const proxies = { js: await ProxyChild.start('js', up.port, threads), native: await ProxyChild.start('native', up.port, threads, pipeSize) };
  const portOf = (m: Mode): number => (m === 'direct' ? up.port : proxies[m].port);
  const modes: Mode[] = ['direct', 'js', 'native'];
  const cpu: Record<'js' | 'native', number> = { js: 0, native: 0 };
  const moved: Record<'js' | 'native', number> = { js: 0, native: 0 }; // GB through each proxy in the bulk phase
  const connCpu: Record<'js' | 'native', number> = { js: 0, native: 0 };
  const connCount: Record<'js' | 'native', number> = { js: 0, native: 0 };
  // Alternate the modes within each repetition so machine noise hits all of them alike.
  for (let rep = 0; rep < reps; rep++) {
    for (const m of only.has('bulk') ? modes : []) {
      const p = m === 'direct' ? undefined : (bulkProxies ?? proxies)[m];
      const c0 = p ? (await p.report()).cpuMicros : 0;
      const gbps = iperf ? await iperf3Bulk(p ? p.port : iperf.port, bulkSeconds) : await bulk(portOf(m), up, bulkBytes);
      results[m].bulkGbps.push(gbps);
      if (p && m !== 'direct') {
        cpu[m] += (await p.report()).cpuMicros - c0;
        moved[m] += iperf ? (gbps * bulkSeconds) / 8 : bulkBytes / 1e9;
      }
    }
    for (const m of only.has('conn') ? modes : []) {
      const c0 = m === 'direct' ? 0 : (await proxies[m].report()).cpuMicros;
      const r = await connectionRate(portOf(m), up, concurrency, durationMs);
      results[m].connPerSec.push(r.rate);
      results[m].failed += r.failed;
      if (m !== 'direct') {
        connCpu[m] += (await proxies[m].report()).cpuMicros - c0;
        connCount[m] += (r.rate * durationMs) / 1000;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  for (const m of ['js', 'native'] as const) {
    if (moved[m] > 0) results[m].cpuPerGB = cpu[m] / 1e6 / moved[m];
    if (connCount[m] > 0) results[m].cpuPerConn = connCpu[m] / connCount[m];
    if (!only.has('idle')) continue;
    // A fresh proxy per mode, warmed up, so heap left over from the bulk phase does not blur the figure.
    const fresh = await ProxyChild.start(m, up.port, threads, pipeSize);
    await connectionRate(fresh.port, up, 8, 300);
    results[m].idleBytes = await idleMemory(fresh, up, idleCount);
    await fresh.stop();
  }
  await proxies.js.stop();
  await proxies.native.stop();
  if (bulkProxies) {
    await bulkProxies.js.stop();
    await bulkProxies.native.stop();
  }
  iperf?.stop();
  up.close();

  const fmt = (xs: number[], digits: number, base: number): string =>
    xs.length === 0 ? '-' : `${median(xs)!.toFixed(digits)} (${(median(xs)! / base).toFixed(2)}×)`;
  const direct = { bulk: median(results.direct.bulkGbps) ?? 1, conn: median(results.direct.connPerSec) ?? 1 };
  const lines = [
    `| path | bulk Gbit/s (× direct) | proxy CPU s per GB | new conn/s (× direct) | proxy CPU µs per conn | failed | RSS per idle conn |`,
    `|---|---|---|---|---|---|---|`,
  ];
  for (const m of modes) {
    const r = results[m];
    lines.push(
      `| ${m === 'js' ? 'JS relay' : m === 'native' ? 'native relay' : 'direct'} | ${fmt(r.bulkGbps, 2, direct.bulk)} | ${
        r.cpuPerGB !== undefined ? r.cpuPerGB.toFixed(2) : '-'
      } | ${fmt(r.connPerSec, 0, direct.conn)} | ${r.cpuPerConn !== undefined ? r.cpuPerConn.toFixed(0) : '-'} | ${r.failed} | ${r.idleBytes !== undefined ? `${(r.idleBytes / 1024).toFixed(2)} KiB` : '-'} |`,
    );
  }
  const summary = [
    `bench-relay: bulk ${iperf ? `iperf3 1 stream ${bulkSeconds} s` : `${bulkBytes / 1024 / 1024} MiB (node client)`} × ${reps}, connections ${concurrency} concurrent × ${durationMs} ms × ${reps}, idle ${idleCount} connections, native threads ${threads}, pipe size ${pipeSize || 'default (64 KiB)'}`,
    ...lines,
  ].join('\n');
  process.stdout.write(`${summary}\n`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ bulkBytes, durationMs, concurrency, idleCount, reps, threads, results }, null, 2));
}

main().catch((err) => {
  process.stderr.write(`bench-relay: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
