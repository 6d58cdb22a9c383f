/**
 * Outbound connections by original destination: TCP service ports (server-first protocols included), circuit
 * breaking, unknown destinations (PassthroughCluster / BlackHoleCluster), AUTO ports sniffed.
 */
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import net from 'node:net';
import { test } from 'node:test';
import type { TcpCloseEvent } from '../../../src/telemetry/events';
import { seededRandom } from '../../../src/upstream/random-source';
import { captureHttpEvents, request, startHarness, startUpstream } from '../../support/routing';
import { sendMail, startSmtpServer } from '../../support/smtp';
import { listen, readAll } from '../../support/sockets';

function tcpCloses(): { events: TcpCloseEvent[]; stop(): void } {
  const events: TcpCloseEvent[] = [];
  const fn = (m: unknown): void => void events.push(m as TcpCloseEvent);
  diagnostics_channel.subscribe('sidelane:tcp:close', fn);
  return { events, stop: () => diagnostics_channel.unsubscribe('sidelane:tcp:close', fn) };
}

async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Reads until `n` bytes or `ms` passes, without sending anything. */
function readFor(s: net.Socket, ms: number): Promise<string> {
  return new Promise((resolve) => {
    let t = '';
    s.on('data', (c) => (t += c));
    setTimeout(() => resolve(t), ms);
  });
}

test('a TCP service port never waits for the client: a real SMTP server greets first, and smtplib completes a mail', async () => {
  const smtp = await startSmtpServer();
  const h = await startHarness(
    `services:\n  - {host: mail.default.svc.cluster.local, addresses: [198.19.0.25], ports: [{port: 25, name: tcp-smtp}], endpoints: [{address: 127.0.0.1, port: ${smtp.port}}]}\n`,
    { dst: { address: '198.19.0.25', port: 25 } },
  );
  try {
    const s = net.connect(h.port, '127.0.0.1');
    const t0 = Date.now();
    const banner = await new Promise<string>((r) => s.once('data', (c) => r(String(c))));
    assert.match(banner, /^220 /, 'the server spoke first, through the proxy');
    assert.ok(Date.now() - t0 < 1000);
    s.destroy();
    const mail = await sendMail(h.port);
    assert.equal(mail.code, 0, mail.output);
    assert.match(mail.output, /250\n221/);
    const c = h.state.current.cluster('outbound|25||mail.default.svc.cluster.local')!;
    await waitFor(() => c.stats.upstream_tcp_active === 0, 'connections to close');
    assert.equal(c.stats.upstream_tcp_total, 2);
    assert.equal(c.stats.upstream_cx_total, 2);
  } finally {
    await h.close();
    await smtp.stop();
  }
});

test('an AUTO port: HTTP requests are routed per request; a silent client is TCP after the detection deadline', async () => {
  const smtp = await startSmtpServer();
  const up = await startUpstream((_q, s) => s.end('http'));
  const h = await startHarness(
    `defaults: {protocolDetectionTimeout: 150ms}
services:
  - {host: web, addresses: [198.19.0.8], ports: [{port: 8000}], endpoints: [{address: 127.0.0.1, port: ${up.port}}]}
  - {host: mail, addresses: [198.19.0.9], ports: [{port: 8000}], endpoints: [{address: 127.0.0.1, port: ${smtp.port}}]}
`,
    { dst: { address: '198.19.0.8', port: 8000 } },
  );
  const ev = captureHttpEvents();
  try {
    assert.equal((await request(h.port, { headers: { host: 'web' } })).body, 'http');
    assert.equal((await ev.next()).cluster, 'outbound|8000||web');
    h.dst = { address: '198.19.0.9', port: 8000 };
    const s = net.connect(h.port, '127.0.0.1');
    const t0 = Date.now();
    const banner = await new Promise<string>((r) => s.once('data', (c) => r(String(c))));
    assert.match(banner, /^220 /);
    assert.ok(Date.now() - t0 >= 140, 'waited for the detection deadline');
    s.destroy();
  } finally {
    ev.stop();
    await h.close();
    await up.close();
    await smtp.stop();
  }
});

test('TCP circuit breaker: beyond maxConnections the connection is reset (UO) and counted', async () => {
  const held: net.Socket[] = [];
  const { server, port } = await listen((s) => held.push(s));
  const closes = tcpCloses();
  const h = await startHarness(`services:\n  - {host: db, addresses: [198.19.0.3], ports: [{port: 3306, protocol: MYSQL}], endpoints: [{address: 127.0.0.1, port: ${port}}], circuitBreakers: {maxConnections: 1}}\n`, {
    dst: { address: '198.19.0.3', port: 3306 },
  });
  try {
    const a = net.connect(h.port, '127.0.0.1');
    await waitFor(() => held.length === 1, 'first connection upstream');
    const b = net.connect(h.port, '127.0.0.1');
    const err = await new Promise<NodeJS.ErrnoException | undefined>((r) => {
      b.once('error', r);
      b.once('close', () => r(undefined));
    });
    assert.equal(err?.code, 'ECONNRESET');
    const c = h.state.current.cluster('outbound|3306||db')!;
    assert.equal(c.stats.upstream_tcp_overflow, 1);
    await waitFor(() => closes.events.some((e) => e.responseFlags === 'UO'), 'a UO close event');
    a.destroy();
    held[0]!.destroy(); // half-close is proxied: the relay ends when both sides are done
    await waitFor(() => c.stats.upstream_tcp_active === 0, 'the slot to free');
  } finally {
    closes.stop();
    for (const s of held) s.destroy();
    server.close();
    await h.close();
  }
});

test('a TCP service without endpoints: reset, flag UH', async () => {
  const closes = tcpCloses();
  const h = await startHarness('services:\n  - {host: db, addresses: [198.19.0.3], ports: [{port: 3306, protocol: TCP}]}\n', { dst: { address: '198.19.0.3', port: 3306 } });
  try {
    const s = net.connect(h.port, '127.0.0.1');
    const err = await new Promise<NodeJS.ErrnoException | undefined>((r) => {
      s.once('error', r);
      s.once('close', () => r(undefined));
    });
    assert.equal(err?.code, 'ECONNRESET');
    await waitFor(() => closes.events.length > 0, 'close event');
    assert.deepEqual([closes.events[0]!.cluster, closes.events[0]!.responseFlags], ['outbound|3306||db', 'UH']);
  } finally {
    closes.stop();
    await h.close();
  }
});

test('unknown destinations: PassthroughCluster under ALLOW_ANY (bytes both ways, half-close), BlackHoleCluster under REGISTRY_ONLY', async () => {
  const { server, port } = await listen((s) => {
    void readAll(s).then((b) => s.end(`echo:${b.toString()}`));
  });
  const allow = await startHarness('{}', { dst: { address: '127.0.0.1', port } });
  const block = await startHarness('outboundTrafficPolicy: REGISTRY_ONLY\n', { dst: { address: '127.0.0.1', port } });
  const closes = tcpCloses();
  try {
    const a = net.connect(allow.port, '127.0.0.1');
    const got = readAll(a);
    a.end('ping');
    assert.equal((await got).toString(), 'echo:ping');
    const b = net.connect(block.port, '127.0.0.1');
    const t = await Promise.race([readFor(b, 300), new Promise<string>((r) => b.once('error', () => r('reset')))]);
    assert.equal(t, 'reset');
    await waitFor(() => closes.events.some((e) => e.cluster === 'BlackHoleCluster'), 'black hole event');
    assert.equal(closes.events.find((e) => e.cluster === 'BlackHoleCluster')!.responseFlags, 'UH');
    assert.ok(closes.events.some((e) => e.cluster === 'PassthroughCluster' && e.responseFlags === '-'));
  } finally {
    closes.stop();
    server.close();
    await allow.close();
    await block.close();
  }
});

test('a weighted tcp route splits connections between services', async () => {
  const servers = await Promise.all(
    ['a', 'b'].map((name) =>
      listen((s) => {
        s.end(name);
      }),
    ),
  );
  const h = await startHarness(
    `services:
  - {host: db, addresses: [198.19.0.3], ports: [{port: 5432, protocol: TCP}], endpoints: [{address: 127.0.0.1, port: ${servers[0]!.port}}]}
  - {host: db-next, ports: [{port: 5432, protocol: TCP}], endpoints: [{address: 127.0.0.1, port: ${servers[1]!.port}}]}
routes:
  - host: db
    tcp: [{route: [{host: db, weight: 1}, {host: db-next, weight: 3}]}]
`,
    { dst: { address: '198.19.0.3', port: 5432 }, random: seededRandom(9) },
  );
  try {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const s = net.connect(h.port, '127.0.0.1');
      s.end();
      const got = (await readAll(s)).toString();
      counts[got] = (counts[got] ?? 0) + 1;
    }
    assert.equal(counts.a! + counts.b!, 200);
    assert.ok(Math.abs(counts.b! - 150) <= 20, `3:1 split, got ${JSON.stringify(counts)}`);
  } finally {
    for (const s of servers) s.server.close();
    await h.close();
  }
});
