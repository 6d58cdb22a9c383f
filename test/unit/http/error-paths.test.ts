/**
 * Every way a request can fail, driven with real sockets: status, body, Envoy response flags (from the published
 * event) and the cluster's counters.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { ManualClock } from '../../../src/upstream/clock';
import { captureHttpEvents, closedPort, request, startHarness, startUpstream } from '../../support/routing';

const HOST = 'svc.default.svc.cluster.local';

function mesh(endpoints: string, extra = '', route = ''): string {
  return `
services:
  - host: ${HOST}
    addresses: [198.19.0.1]
    ports: [{port: 9080, protocol: HTTP}]
    endpoints: ${endpoints}
${extra}
${route ? `routes:\n  - host: ${HOST}\n    http:\n${route}` : ''}
`;
}

const cluster = (h: Awaited<ReturnType<typeof startHarness>>, name = `outbound|9080||${HOST}`) => h.state.current.cluster(name)!;

test('NR: no route matches → 404, flag NR', async () => {
  const up = await startUpstream((_q, s) => s.end('ok'));
  const h = await startHarness(mesh(`[{address: 127.0.0.1, port: ${up.port}}]`, '', `      - match: [{headers: {end-user: {exact: jason}}}]\n        route: [{host: ${HOST}}]\n`));
  const ev = captureHttpEvents();
  try {
    const r = await request(h.port, { headers: { host: HOST } });
    assert.equal(r.status, 404);
    assert.equal(r.body, '');
    const e = await ev.next();
    assert.equal(e.responseFlags, 'NR');
    assert.equal(e.responseCodeDetails, 'route_not_found');
    assert.equal(e.attempts, 0);
    assert.equal(up.requests, 0);
    const ok = await request(h.port, { headers: { host: HOST, 'end-user': 'jason' } });
    assert.equal(ok.status, 200);
  } finally {
    ev.stop();
    await h.close();
    await up.close();
  }
});

test('UH: no healthy endpoint → 503 "no healthy upstream", counted', async () => {
  const h = await startHarness(mesh('[]'));
  const ev = captureHttpEvents();
  try {
    const r = await request(h.port, { headers: { host: HOST } });
    assert.equal(r.status, 503);
    assert.equal(r.body, 'no healthy upstream');
    assert.ok(r.headers['x-request-id'], 'local replies carry the request id');
    assert.equal((await ev.next()).responseFlags, 'UH');
    assert.equal(cluster(h).stats.upstream_rq_no_healthy, 1);
    assert.equal(cluster(h).stats.upstream_rq_active, 0, 'the slot was released');
  } finally {
    ev.stop();
    await h.close();
  }
});

test('UT: the route timeout → 504 "upstream request timeout"', async () => {
  const up = await startUpstream((_q, s) => setTimeout(() => s.end('late'), 600));
  const h = await startHarness(mesh(`[{address: 127.0.0.1, port: ${up.port}}]`, '', `      - route: [{host: ${HOST}}]\n        timeout: 150ms\n`));
  const ev = captureHttpEvents();
  try {
    const t0 = Date.now();
    const r = await request(h.port, { headers: { host: HOST } });
    const took = Date.now() - t0;
    assert.equal(r.status, 504);
    assert.equal(r.body, 'upstream request timeout');
    assert.ok(took >= 140 && took < 550, `answered at the timeout, after ${took} ms`);
    const e = await ev.next();
    assert.equal(e.responseFlags, 'UT');
    assert.equal(cluster(h).stats.upstream_rq_timeout, 1);
    assert.equal(cluster(h).stats.upstream_rq_active, 0);
  } finally {
    ev.stop();
    await h.close();
    await up.close();
  }
});

test('per-try timeout: slow attempts are retried and the fast one answers', async () => {
  let n = 0;
  const up = await startUpstream((_q, s) => {
    n += 1;
    if (n <= 2) setTimeout(() => s.end('slow'), 500);
    else s.end('fast');
  });
  const h = await startHarness(
    mesh(`[{address: 127.0.0.1, port: ${up.port}}]`, '', `      - route: [{host: ${HOST}}]\n        retries: {attempts: 3, perTryTimeout: 100ms, retryOn: 5xx, backoff: {baseInterval: 1ms}}\n`),
  );
  const ev = captureHttpEvents();
  try {
    const r = await request(h.port, { headers: { host: HOST } });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'fast');
    const e = await ev.next();
    assert.equal(e.attempts, 3);
    assert.equal(e.responseFlags, '-');
    const s = cluster(h).stats;
    assert.equal(s.upstream_rq_per_try_timeout, 2);
    assert.equal(s.upstream_rq_retry, 2);
    assert.equal(s.upstream_rq_retry_success, 1);
  } finally {
    ev.stop();
    await h.close();
    await up.close();
  }
});

test('UF: connect failure → 503 after the default retries (UF,URX), counted per attempt', async () => {
  const port = await closedPort();
  const h = await startHarness(mesh(`[{address: 127.0.0.1, port: ${port}}]`));
  const ev = captureHttpEvents();
  try {
    const r = await request(h.port, { headers: { host: HOST } });
    assert.equal(r.status, 503);
    assert.match(r.body, /^upstream connect error or disconnect\/reset before headers\. retried and the latest reset reason: connection failure, transport failure reason: ECONNREFUSED$/);
    const e = await ev.next();
    assert.equal(e.responseFlags, 'UF,URX');
    assert.equal(e.attempts, 3, "Istio's default: 2 retries on connect-failure");
    const s = cluster(h).stats;
    assert.equal(s.upstream_cx_connect_fail, 3);
    assert.equal(s.upstream_rq_retry, 2);
    assert.equal(s.upstream_rq_retry_limit_exceeded, 1);
  } finally {
    ev.stop();
    await h.close();
  }
});

test('UF without retries: one attempt, flag UF only', async () => {
  const port = await closedPort();
  const h = await startHarness(mesh(`[{address: 127.0.0.1, port: ${port}}]`, 'defaults: {retries: {attempts: 0}}'));
  const ev = captureHttpEvents();
  try {
    const r = await request(h.port, { headers: { host: HOST } });
    assert.equal(r.status, 503);
    assert.match(r.body, /reset reason: connection failure, transport failure reason: ECONNREFUSED/);
    const e = await ev.next();
    assert.equal(e.responseFlags, 'UF');
    assert.equal(e.attempts, 1);
  } finally {
    ev.stop();
    await h.close();
  }
});

test('retries exhausted on 5xx: the last upstream response is passed on, flag URX; a later success counts as retry success', async () => {
  let fail = 10;
  const up = await startUpstream((_q, s) => {
    if (fail-- > 0) {
      s.writeHead(503, { 'x-from': 'upstream' });
      s.end('busy');
    } else s.end('ok');
  });
  const h = await startHarness(mesh(`[{address: 127.0.0.1, port: ${up.port}}]`, '', `      - route: [{host: ${HOST}}]\n        retries: {attempts: 2, retryOn: 5xx, backoff: {baseInterval: 1ms}}\n`));
  const ev = captureHttpEvents();
  try {
    const r = await request(h.port, { headers: { host: HOST } });
    assert.equal(r.status, 503);
    assert.equal(r.body, 'busy');
    assert.equal(r.headers['x-from'], 'upstream');
    const e = await ev.next();
    assert.equal(e.responseFlags, 'URX');
    assert.equal(e.attempts, 3);
    assert.equal(up.requests, 3);
    const s = cluster(h).stats;
    assert.equal(s.upstream_rq_retry, 2);
    assert.equal(s.upstream_rq_retry_limit_exceeded, 1);
    assert.equal(s.upstream_rq_5xx, 3);
    fail = 1;
    const ok = await request(h.port, { headers: { host: HOST } });
    assert.equal(ok.status, 200);
    assert.equal(s.upstream_rq_retry_success, 1);
  } finally {
    ev.stop();
    await h.close();
    await up.close();
  }
});

test('a request body is replayed on retry, byte for byte', async () => {
  let n = 0;
  const up = await startUpstream((q, s) => {
    const chunks: Buffer[] = [];
    q.on('data', (c: Buffer) => chunks.push(c));
    q.on('end', () => {
      n += 1;
      if (n === 1) {
        s.writeHead(503);
        s.end();
      } else s.end(Buffer.concat(chunks));
    });
  });
  const h = await startHarness(mesh(`[{address: 127.0.0.1, port: ${up.port}}]`, '', `      - route: [{host: ${HOST}}]\n        retries: {attempts: 1, retryOn: 5xx, backoff: {baseInterval: 1ms}}\n`));
  try {
    const body = Buffer.alloc(40_000, 'x');
    const r = await request(h.port, { method: 'POST', headers: { host: HOST }, body });
    assert.equal(r.status, 200);
    assert.equal(r.body, body.toString());
    assert.equal(n, 2);
  } finally {
    await h.close();
    await up.close();
  }
});

test('UC: the upstream closes before answering → 503 connection termination; retried under retryOn reset', async () => {
  let n = 0;
  const up = await startUpstream((q) => {
    n += 1;
    if (n === 1 || q.url === '/always') q.socket.destroy();
    else q.socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  });
  const h = await startHarness(
    mesh(`[{address: 127.0.0.1, port: ${up.port}}]`, 'defaults: {retries: {attempts: 0}}', `      - match: [{uri: {prefix: /retry}}]\n        route: [{host: ${HOST}}]\n        retries: {attempts: 2, retryOn: reset, backoff: {baseInterval: 1ms}}\n      - route: [{host: ${HOST}}]\n`),
  );
  const ev = captureHttpEvents();
  try {
    const r = await request(h.port, { headers: { host: HOST }, path: '/always' });
    assert.equal(r.status, 503);
    assert.equal(r.body, 'upstream connect error or disconnect/reset before headers. reset reason: connection termination');
    assert.equal((await ev.next()).responseFlags, 'UC');
    assert.equal(cluster(h).stats.upstream_rq_rx_reset, 1);
    n = 0;
    const retried = await request(h.port, { headers: { host: HOST }, path: '/retry' });
    assert.equal(retried.status, 200);
    assert.equal((await ev.next()).attempts, 2);
  } finally {
    ev.stop();
    await h.close();
    await up.close();
  }
});

test('UO: the circuit breaker refuses what exceeds connections + pending; pending requests are served in turn', async () => {
  const held: http.ServerResponse[] = [];
  const up = await startUpstream((_q, s) => held.push(s));
  const h = await startHarness(mesh(`[{address: 127.0.0.1, port: ${up.port}}]`, '    circuitBreakers: {maxConnections: 1, maxPendingRequests: 1}'));
  const ev = captureHttpEvents();
  try {
    const first = request(h.port, { headers: { host: HOST }, path: '/1' });
    while (held.length < 1) await new Promise((r) => setTimeout(r, 5));
    const second = request(h.port, { headers: { host: HOST }, path: '/2' }); // waits (pending)
    while (cluster(h).stats.upstream_rq_pending_active < 1) await new Promise((r) => setTimeout(r, 5));
    const third = await request(h.port, { headers: { host: HOST }, path: '/3' });
    assert.equal(third.status, 503);
    assert.equal(third.body, 'upstream connect error or disconnect/reset before headers. reset reason: overflow');
    const e = await ev.next();
    assert.deepEqual([e.path, e.responseFlags], ['/3', 'UO']);
    const s = cluster(h).stats;
    assert.equal(s.upstream_rq_pending_overflow, 1);
    assert.equal(s.upstream_cx_overflow, 1);
    assert.equal(up.requests, 1, 'the pending request has not reached the upstream');
    held[0]!.end('one');
    assert.equal((await first).body, 'one');
    while (held.length < 2) await new Promise((r) => setTimeout(r, 5));
    held[1]!.end('two');
    assert.equal((await second).body, 'two');
    assert.equal(s.upstream_rq_active, 0);
    assert.equal(s.upstream_rq_pending_active, 0);
    assert.equal(s.upstream_rq_pending_total, 1);
  } finally {
    ev.stop();
    await h.close();
    await up.close();
  }
});

test('UO on retries: maxRetries 0 stops retrying; the response is passed on with UO', async () => {
  const up = await startUpstream((_q, s) => {
    s.writeHead(503);
    s.end('no');
  });
  const h = await startHarness(
    mesh(`[{address: 127.0.0.1, port: ${up.port}}]`, '    circuitBreakers: {maxRetries: 0}', `      - route: [{host: ${HOST}}]\n        retries: {attempts: 3, retryOn: 5xx}\n`),
  );
  const ev = captureHttpEvents();
  try {
    const r = await request(h.port, { headers: { host: HOST } });
    assert.equal(r.status, 503);
    assert.equal(up.requests, 1);
    assert.equal((await ev.next()).responseFlags, 'UO');
    assert.equal(cluster(h).stats.upstream_rq_retry_overflow, 1);
  } finally {
    ev.stop();
    await h.close();
    await up.close();
  }
});

test('outlier detection: a failing endpoint is ejected (traffic avoids it) and restored after its ejection time', async () => {
  const good = await startUpstream((_q, s) => s.end('good'));
  const bad = await startUpstream((_q, s) => {
    s.writeHead(500);
    s.end('bad');
  });
  const clock = new ManualClock(0);
  const h = await startHarness(
    mesh(
      `[{address: 127.0.0.1, port: ${good.port}}, {address: 127.0.0.1, port: ${bad.port}}]`,
      '    loadBalancer: ROUND_ROBIN\n    outlierDetection: {consecutive5xxErrors: 2, baseEjectionTime: 30s, maxEjectionPercent: 50}\ndefaults: {retries: {attempts: 0}}',
    ),
    { clock },
  );
  try {
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++) bodies.push((await request(h.port, { headers: { host: HOST } })).body);
    assert.deepEqual(bodies.sort(), ['bad', 'bad', 'good', 'good']);
    const c = cluster(h);
    assert.equal(c.stats.outlier_detection_ejections_total, 1);
    assert.equal(c.stats.outlier_detection_ejections_active, 1);
    const ejected = c.endpoints.all.find((e) => e.address.port === bad.port)!;
    assert.equal(ejected.healthFlags, '/failed_outlier_check');
    for (let i = 0; i < 10; i++) assert.equal((await request(h.port, { headers: { host: HOST } })).body, 'good');
    assert.equal(bad.requests, 2, 'no traffic while ejected');
    clock.advance(30_000);
    const after: string[] = [];
    for (let i = 0; i < 2; i++) after.push((await request(h.port, { headers: { host: HOST } })).body);
    assert.deepEqual(after.sort(), ['bad', 'good'], 'restored after 30 s');
    assert.equal(c.stats.outlier_detection_unejections_total, 1);
    assert.equal(c.stats.outlier_detection_ejections_active, 0);
  } finally {
    await h.close();
    await good.close();
    await bad.close();
  }
});

test('DC: the client leaves mid-request; the attempt is cancelled and the slot released', async () => {
  const up = await startUpstream(() => undefined); // never answers
  const h = await startHarness(mesh(`[{address: 127.0.0.1, port: ${up.port}}]`));
  const ev = captureHttpEvents();
  try {
    const req = http.request({ host: '127.0.0.1', port: h.port, headers: { host: HOST }, agent: false });
    req.on('error', () => undefined);
    req.end();
    while (up.requests < 1) await new Promise((r) => setTimeout(r, 5));
    req.destroy();
    const e = await ev.next();
    assert.equal(e.responseFlags, 'DC');
    assert.equal(e.responseCode, 0);
    assert.equal(cluster(h).stats.upstream_rq_active, 0);
  } finally {
    ev.stop();
    await h.close();
    await up.close();
  }
});

test('the upstream resets after the response started: the client sees the truncation, flag UC', async () => {
  const up = await startUpstream((_q, s) => {
    s.writeHead(200, { 'content-length': '100' });
    s.write('partial');
    setTimeout(() => s.socket?.destroy(), 30);
  });
  const h = await startHarness(mesh(`[{address: 127.0.0.1, port: ${up.port}}]`));
  const ev = captureHttpEvents();
  try {
    const err = await request(h.port, { headers: { host: HOST } }).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    assert.ok(err, 'the client must not see a complete response');
    const e = await ev.next();
    assert.equal(e.responseCode, 200);
    assert.equal(e.responseFlags, 'UC');
    assert.equal(e.responseCodeDetails, 'via_upstream');
  } finally {
    ev.stop();
    await h.close();
    await up.close();
  }
});

test('an attempt abandoned in flight (route timeout, client gone) leaves no upstream connection behind (undici#5845)', async () => {
  // Raw upstream: counts connections and keeps them open until the proxy closes them.
  const net = await import('node:net');
  let connections = 0;
  const open = new Set<import('node:net').Socket>();
  const up = net.createServer((s) => {
    connections += 1;
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
    s.resume(); // read (and discard) the request, so the proxy's FIN is seen
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const port = (up.address() as import('node:net').AddressInfo).port;
  const h = await startHarness(
    mesh(`[{address: 127.0.0.1, port: ${port}}]`, 'defaults: {retries: {attempts: 0}}', `      - route: [{host: ${HOST}}]\n        timeout: 100ms\n`),
  );
  try {
    for (let i = 0; i < 3; i++) assert.equal((await request(h.port, { headers: { host: HOST } })).status, 504);
    // Client gone mid-request (DC): the attempt is cancelled the same way.
    await new Promise<void>((resolve) => {
      const req = http.get({ port: h.port, host: '127.0.0.1', headers: { host: HOST } });
      req.on('error', () => resolve());
      setTimeout(() => req.destroy(), 50);
    });
    for (let i = 0; i < 30 && open.size > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(connections, 4, 'one upstream connection per request, none opened after an abort');
    assert.equal(open.size, 0, 'every abandoned connection was closed');
    assert.equal(cluster(h).stats.upstream_cx_active, 0);
    assert.equal(cluster(h).stats.upstream_cx_connect_fail, 0, 'refusing the spurious connect is not a connect failure');
  } finally {
    await h.close();
    for (const s of open) s.destroy();
    up.close();
  }
});
