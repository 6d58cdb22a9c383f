/**
 * The proxy's TCP data path, on both data paths (native acceptor + native relay, and net.Server + JavaScript
 * relay), through the real Sidecar: the outbound listener on loopback takes "hooked" connections (a PROXY v2 header
 * naming a real server on loopback), outbound routing sends them through PassthroughCluster, and the TCP proxy relays
 * them. Each guarantee must hold, and publish the same event, on both paths: bytes and half-close, resets in both
 * directions, backpressure, the idle timeout, and drain (refuse new, let open finish, close at the deadline).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import diagnostics_channel from 'node:diagnostics_channel';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { parseConfig } from '../../../src/config/loader';
import { DEFAULT_SNAPSHOT_OPTIONS } from '../../../src/config/snapshot';
import { HttpConnectionManager } from '../../../src/http/connection-manager';
import { InboundRouter } from '../../../src/inbound/inbound-router';
import { OutboundRouter } from '../../../src/outbound/outbound-router';
import { RoutingState } from '../../../src/sidecar/routing-state';
import { Sidecar } from '../../../src/sidecar/sidecar';
import type { ListenerRefusedEvent, TcpCloseEvent, TcpOpenEvent } from '../../../src/telemetry/events';
import type { DataPath } from '../../../src/transport/captured-listener';
import { encodeProxyHeader } from '../../../src/transport/proxy-protocol';
import { systemClock } from '../../../src/upstream/clock';
import { mathRandom } from '../../../src/upstream/random-source';
import { forEachDataPath, testNativeConnector, testRelay } from '../../support/routing';
import { listen, readAll } from '../../support/sockets';

interface Proxy {
  readonly sidecar: Sidecar;
  readonly port: number;
  readonly opens: TcpOpenEvent[];
  readonly closes: TcpCloseEvent[];
  readonly refusals: ListenerRefusedEvent[];
  close(): Promise<void>;
}

async function startProxy(dataPath: DataPath, idleTimeoutMs = 60_000): Promise<Proxy> {
  const connector = testNativeConnector();
  const relay = dataPath === 'native' ? testRelay() : undefined;
  const state = new RoutingState({ connector, clock: systemClock, random: mathRandom, bypassMark: 0 }, { ...DEFAULT_SNAPSHOT_OPTIONS, preserveSource: false, idleTimeoutMs });
  state.apply(parseConfig('{}', 'test.yaml'), 'test.yaml');
  const http = (direction: 'inbound' | 'outbound'): HttpConnectionManager =>
    new HttpConnectionManager({ direction, routing: state, clock: systemClock, random: mathRandom });
  const sidecar = new Sidecar(
    // redirect: the listeners need no IP_TRANSPARENT (no root), and a loopback connection without SO_ORIGINAL_DST is
    // taken as a hooked one, exactly as under TPROXY.
    { inboundPort: 0, outboundPort: 0, captureMode: 'redirect', bypassMark: 0, ipv6: false, reusePort: false, dataPath, addresses: ['127.0.0.1'], proxyHeaderTimeoutMs: 2000 },
    connector,
    {
      inbound: new InboundRouter(state, { connector, http: http('inbound'), random: mathRandom, relay }),
      outbound: new OutboundRouter(state, { connector, http: http('outbound'), random: mathRandom, relay }),
    },
  );
  await sidecar.start();
  const opens: TcpOpenEvent[] = [];
  const closes: TcpCloseEvent[] = [];
  const refusals: ListenerRefusedEvent[] = [];
  const onOpen = (m: unknown): void => void opens.push(m as TcpOpenEvent);
  const onClose = (m: unknown): void => void closes.push(m as TcpCloseEvent);
  const onRefused = (m: unknown): void => void refusals.push(m as ListenerRefusedEvent);
  diagnostics_channel.subscribe('sidelane:tcp:open', onOpen);
  diagnostics_channel.subscribe('sidelane:tcp:close', onClose);
  diagnostics_channel.subscribe('sidelane:listener:refused', onRefused);
  return {
    sidecar,
    port: sidecar.boundPorts().outbound,
    opens,
    closes,
    refusals,
    close: async () => {
      diagnostics_channel.unsubscribe('sidelane:tcp:open', onOpen);
      diagnostics_channel.unsubscribe('sidelane:tcp:close', onClose);
      diagnostics_channel.unsubscribe('sidelane:listener:refused', onRefused);
      await sidecar.stopAccepting();
      sidecar.closeAll();
      await state.destroy();
    },
  };
}

/** A client as the hook makes it: connected to the outbound listener, a PROXY v2 header first. */
async function hooked(proxyPort: number, dstPort: number): Promise<net.Socket> {
  const s = net.connect({ port: proxyPort, host: '127.0.0.1', allowHalfOpen: true });
  s.on('error', () => undefined);
  await new Promise<void>((r, j) => {
    s.once('connect', () => r());
    s.once('error', j);
  });
  s.write(encodeProxyHeader({ command: 'PROXY', source: { address: '127.0.0.1', port: s.localPort! }, destination: { address: '127.0.0.1', port: dstPort }, caller: { pid: 42, uid: 0, comm: 'tester' } }));
  return s;
}

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function errorOf(s: net.Socket): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((r) => {
    s.once('error', r);
    s.once('close', () => r(undefined));
  });
}

/** Every check runs on both paths; `t` is unused but keeps the signature of forEachDataPath. */
function both(name: string, body: (dataPath: DataPath, t: TestContext) => Promise<void>): void {
  forEachDataPath(name, (t, dataPath) => body(dataPath, t), { timeout: 60_000 });
}

both('bytes both ways and half-close: the client FINs first, the server answers after it, both ends see FIN; counts exact', async (dataPath) => {
  const { server, port } = await listen((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    // Answer only after the client's FIN arrived: the reverse direction must still be open (half-close).
    s.once('end', () => {
      const got = Buffer.concat(chunks);
      s.end(Buffer.concat([Buffer.from(`got ${got.length} `), createHash('sha256').update(got).digest()]));
    });
  });
  const p = await startProxy(dataPath);
  try {
    const c = await hooked(p.port, port);
    const payload = Buffer.alloc(3 * 1024 * 1024 + 7, 7);
    const reply = readAll(c);
    c.end(payload);
    const r = await reply;
    const expected = Buffer.concat([Buffer.from(`got ${payload.length} `), createHash('sha256').update(payload).digest()]);
    assert.deepEqual(r, expected, 'the server saw every byte, then answered over the half-closed connection');
    await waitFor('the close event', () => p.closes.length === 1);
    const e = p.closes[0]!;
    assert.equal(e.end, 'closed');
    assert.equal(e.responseFlags, '-');
    assert.equal(e.bytesReceived, payload.length);
    assert.equal(e.bytesSent, expected.length);
    assert.equal(e.cluster, 'PassthroughCluster');
    assert.equal(e.upstreamHost, `127.0.0.1:${port}`);
    assert.equal(e.conn.capture, 'hook');
    assert.deepEqual(e.conn.caller, { pid: 42, uid: 0, comm: 'tester' });
    assert.equal(p.opens.length, 1);
    await waitFor('no active connection', () => p.sidecar.activeConnections().outbound === 0);
  } finally {
    await p.close();
    server.close();
  }
});

both('a reset is passed on as a reset, from the server (UR) and from the client (DR)', async (dataPath) => {
  const accepted: net.Socket[] = [];
  const received: number[] = [];
  const { server, port } = await listen((s) => {
    s.on('error', () => undefined);
    const i = accepted.push(s) - 1;
    received[i] = 0;
    s.on('data', (d: Buffer) => (received[i]! += d.length));
  });
  const p = await startProxy(dataPath);
  try {
    const a = await hooked(p.port, port);
    a.write('hello');
    // Bytes still in flight when a connection resets are counted differently (read vs delivered): wait for them.
    await waitFor('the first upstream connection and its bytes', () => received[0] === 5);
    const aErr = errorOf(a);
    accepted[0]!.resetAndDestroy();
    assert.equal((await aErr)?.code, 'ECONNRESET', 'the client sees the server reset as a reset');
    await waitFor('the UR close event', () => p.closes.length === 1);
    assert.equal(p.closes[0]!.end, 'upstream_reset');
    assert.equal(p.closes[0]!.responseFlags, 'UR');
    assert.equal(p.closes[0]!.bytesReceived, 5);

    const b = await hooked(p.port, port);
    b.write('hi');
    await waitFor('the second upstream connection and its bytes', () => received[1] === 2);
    const upErr = errorOf(accepted[1]!);
    b.resetAndDestroy();
    assert.equal((await upErr)?.code, 'ECONNRESET', 'the server sees the client reset as a reset');
    await waitFor('the DR close event', () => p.closes.length === 2);
    assert.equal(p.closes[1]!.end, 'downstream_reset');
    assert.equal(p.closes[1]!.responseFlags, 'DR');
    assert.equal(p.closes[1]!.bytesReceived, 2);
    await waitFor('no active connection', () => p.sidecar.activeConnections().outbound === 0);
  } finally {
    await p.close();
    server.close();
  }
});

both('backpressure: a server that does not read stops the client (bounded buffering); nothing is lost once it reads', async (dataPath) => {
  let upstream: net.Socket | undefined;
  const { server, port } = await listen((s) => {
    upstream = s;
    s.pause();
  });
  const p = await startProxy(dataPath);
  try {
    const c = await hooked(p.port, port);
    const chunk = Buffer.alloc(64 * 1024, 1);
    let written = 0;
    // Write until the client's own buffer is full and stays full: the proxy stopped reading.
    for (let stalled = 0; stalled < 10 && written < 256 * 1024 * 1024; ) {
      if (c.write(chunk)) {
        written += chunk.length;
        stalled = 0;
      } else {
        written += chunk.length;
        const drained = await Promise.race([new Promise<boolean>((r) => c.once('drain', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 50))]);
        if (!drained) stalled += 1;
      }
    }
    // Socket buffers (client send, proxy receive and send, server receive) plus the relay's bounded buffer; far less
    // than what an unbounded relay would have swallowed.
    assert.ok(written < 64 * 1024 * 1024, `the client was stopped after ${written} bytes`);
    const hash = createHash('sha256');
    let received = 0;
    upstream!.on('data', (d: Buffer) => {
      received += d.length;
      hash.update(d);
    });
    upstream!.resume();
    c.end();
    await waitFor('every byte to arrive', () => received === written, 20_000);
    assert.equal(hash.digest('hex'), createHash('sha256').update(Buffer.alloc(written, 1)).digest('hex'));
    upstream!.end();
    await waitFor('the close event', () => p.closes.length === 1);
    assert.equal(p.closes[0]!.bytesReceived, written);
  } finally {
    await p.close();
    server.close();
  }
});

both('idle timeout: a connection with no bytes either way is closed on both sides (SI); a busy one is not', async (dataPath) => {
  const ends: string[] = [];
  const { server, port } = await listen((s) => {
    s.on('data', (d) => s.write(d));
    s.once('end', () => {
      ends.push('upstream saw FIN');
      s.end();
    });
  });
  const p = await startProxy(dataPath, 300);
  try {
    const busy = await hooked(p.port, port);
    const idle = await hooked(p.port, port);
    idle.write('x');
    const idleEnd = readAll(idle);
    const t0 = Date.now();
    // The busy connection echoes every 50 ms for longer than the timeout.
    let echoes = 0;
    busy.on('data', () => (echoes += 1));
    while (Date.now() - t0 < 700) {
      busy.write('ping');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(String(await idleEnd), 'x', 'the idle connection got its echo, then a FIN');
    const idleFor = Date.now() - t0;
    assert.ok(idleFor >= 250, `closed after ${idleFor} ms, not before the timeout`);
    await waitFor('the SI close event', () => p.closes.some((e) => e.end === 'idle_timeout'));
    const e = p.closes.find((x) => x.end === 'idle_timeout')!;
    assert.equal(e.responseFlags, 'SI');
    assert.equal(e.bytesReceived, 1);
    assert.equal(e.bytesSent, 1);
    assert.ok(!busy.destroyed && echoes >= 10, `the busy connection lives on (${echoes} echoes)`);
    busy.end();
    await waitFor('the busy connection to close', () => p.closes.length === 2);
    assert.equal(p.closes[1]!.end, 'closed');
  } finally {
    await p.close();
    server.close();
  }
});

both('drain: the outbound port closes (new connects are refused: ECONNREFUSED), the inbound port resets new connections, open ones keep working, the deadline closes them', async (dataPath) => {
  const { server, port } = await listen((s) => {
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(d));
  });
  const p = await startProxy(dataPath);
  try {
    const open = await hooked(p.port, port);
    const echo = (s: net.Socket, text: string): Promise<string> =>
      new Promise((r) => {
        s.once('data', (d) => r(String(d)));
        s.write(text);
      });
    assert.equal(await echo(open, 'before'), 'before');
    assert.equal(p.sidecar.activeConnections().outbound, 1);
    p.sidecar.drain();
    // Outbound: refused before connect() returns, so the hook's proxy-down policy (wait for the next proxy) applies.
    const fresh = net.connect(p.port, '127.0.0.1');
    assert.equal((await errorOf(fresh))?.code, 'ECONNREFUSED', 'a new outbound connection is refused by the closed port');
    // Inbound: the port stays bound (a closed TPROXY port would drop other pods' SYNs) and resets at once.
    const t0 = Date.now();
    const inbound = net.connect(p.sidecar.boundPorts().inbound, '127.0.0.1');
    const err = await errorOf(inbound);
    assert.ok(Date.now() - t0 < 1000, `refused after ${Date.now() - t0} ms`);
    assert.equal(err?.code, 'ECONNRESET', 'a new inbound connection is refused with a reset while draining');
    await waitFor('the refusal event', () => p.refusals.some((r) => r.reason === 'draining' && r.listener === 'inbound'));
    assert.equal(await echo(open, 'during'), 'during', 'an open connection keeps working during the drain');
    assert.equal(p.sidecar.activeConnections().outbound, 1);
    const closed = errorOf(open);
    p.sidecar.closeAll();
    await closed;
    await waitFor('no active connection', () => p.sidecar.activeConnections().outbound === 0);
    await waitFor('the close event', () => p.closes.length === 1);
    assert.equal(p.closes[0]!.end, 'aborted', 'both sides were reset at the deadline');
  } finally {
    await p.close();
    server.close();
  }
});

both('drain: hooked connections the kernel had already queued when the outbound port closed are served, none is lost', async (dataPath) => {
  const { server, port } = await listen((s) => {
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
  });
  const p = await startProxy(dataPath);
  try {
    // Connected (loopback handshakes complete inside connect()), headers not yet written: the listener has not
    // accepted any of them when the drain starts.
    const queued = Array.from({ length: 20 }, () => {
      const s = net.connect({ port: p.port, host: '127.0.0.1', allowHalfOpen: true });
      s.on('error', () => undefined);
      // Queued by Node until connected, then written first.
      s.write(encodeProxyHeader({ command: 'PROXY', source: { address: '127.0.0.1', port: 1 }, destination: { address: '127.0.0.1', port }, caller: { pid: 42, uid: 0, comm: 'tester' } }));
      return s;
    });
    // net.connect() to an address connects on the next tick; this runs right after, before the loop polls the listener.
    await new Promise((r) => process.nextTick(r));
    assert.equal(p.sidecar.activeConnections().outbound, 0, 'none accepted yet: all wait in the kernel queue');
    p.sidecar.drain();
    // Native: the drain itself accepted all 20 (waiting for their PROXY headers, counted as active).
    if (dataPath === 'native') assert.equal(p.sidecar.activeConnections().outbound, 20, 'the drain accepted all 20 from the queue');
    const echoes = await Promise.all(
      queued.map(
        (s, i) =>
          new Promise<string>((resolve) => {
            const timer = setTimeout(() => resolve('timeout'), 5000);
            s.once('data', (d) => {
              clearTimeout(timer);
              resolve(String(d));
            });
            s.once('close', () => resolve('closed'));
            s.write(`ping ${i}`);
          }),
      ),
    );
    if (dataPath === 'native') assert.deepEqual(echoes, queued.map((_, i) => `ping ${i}`), 'every queued connection was served');
    else assert.ok(echoes.every((e, i) => e === `ping ${i}` || e === 'closed'), `js path: served or reset by libuv, never left hanging: ${echoes.join(', ')}`);
    for (const s of queued) s.end();
    await waitFor('no active connection', () => p.sidecar.activeConnections().outbound === 0);
  } finally {
    await p.close();
    server.close();
  }
});

both('connect failure: the client is reset and the close says UF, no bytes', async (dataPath) => {
  // A port nobody listens on (bound and closed at once).
  const probe = await listen(() => undefined);
  const deadPort = probe.port;
  await new Promise<void>((r) => probe.server.close(() => r()));
  const p = await startProxy(dataPath);
  try {
    const c = await hooked(p.port, deadPort);
    assert.equal((await errorOf(c))?.code, 'ECONNRESET');
    await waitFor('the close event', () => p.closes.length === 1);
    const e = p.closes[0]!;
    assert.equal(e.end, 'upstream_connect_failure');
    assert.equal(e.responseFlags, 'UF');
    assert.equal(e.bytesReceived + e.bytesSent, 0);
    await waitFor('no active connection', () => p.sidecar.activeConnections().outbound === 0);
  } finally {
    await p.close();
  }
});

both('a malformed PROXY header is refused with the codec\'s reason; a header cut short by FIN too', async (dataPath) => {
  const p = await startProxy(dataPath);
  try {
    const bad = net.connect(p.port, '127.0.0.1');
    bad.on('error', () => undefined);
    bad.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await errorOf(bad);
    const cut = net.connect({ port: p.port, host: '127.0.0.1', allowHalfOpen: true });
    cut.on('error', () => undefined);
    const full = encodeProxyHeader({ command: 'PROXY', source: { address: '127.0.0.1', port: 1 }, destination: { address: '127.0.0.1', port: 2 } });
    cut.end(full.subarray(0, 20));
    await errorOf(cut);
    await waitFor('two refusals', () => p.refusals.length === 2);
    assert.deepEqual(p.refusals.map((r) => r.reason).sort(), ['proxy_header_bad-signature', 'proxy_header_truncated'].sort());
    assert.equal(p.closes.length, 0);
  } finally {
    await p.close();
  }
});
