/**
 * Inbound connections to the local application: declared HTTP ports go through the connection manager (per-request
 * events, keep-alive to the app, 127.0.0.6 as source without preservation), undeclared ports are TCP passthrough.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { captureHttpEvents, request, startHarness, startUpstream } from '../../support/routing';
import { listen } from '../../support/sockets';

test('an inbound HTTP port: each request reaches the app from 127.0.0.6, over pooled connections, reported as destination', async () => {
  const app = await startUpstream((q, s) => s.end(`${q.socket.remoteAddress} ${q.url}`));
  const h = await startHarness(
    `workload: {name: reviews-v1, namespace: default, labels: {app: reviews, version: v1}}
inbound:
  ports: [{port: ${app.port}, protocol: HTTP, timeout: 2s}]
`,
    { direction: 'inbound', dst: { address: '127.0.0.1', port: app.port } },
  );
  const ev = captureHttpEvents();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < 5; i++) {
      const r = await request(h.port, { path: `/r${i}`, headers: { host: 'reviews:9080' }, agent });
      assert.equal(r.body, `127.0.0.6 /r${i}`);
    }
    const e = await ev.next();
    assert.equal(e.reporter, 'destination');
    assert.equal(e.cluster, `inbound|${app.port}||`);
    assert.deepEqual(e.workload?.labels, { app: 'reviews', version: 'v1' });
    const c = h.state.current.cluster(`inbound|${app.port}||`)!;
    assert.equal(c.stats.upstream_rq_total, 5);
    assert.equal(c.stats.upstream_cx_total, 1, 'keep-alive to the local app');
    assert.equal(c.spec.type, 'ORIGINAL_DST');
  } finally {
    agent.destroy();
    ev.stop();
    await h.close();
    await app.close();
  }
});

test('an undeclared inbound port is TCP passthrough (InboundPassthroughCluster), bytes untouched', async () => {
  const accepted: net.Socket[] = [];
  const { server, port } = await listen((s) => {
    accepted.push(s);
    s.on('data', (d) => s.write(Buffer.from(String(d).toUpperCase())));
  });
  const h = await startHarness('{}', { direction: 'inbound', dst: { address: '127.0.0.1', port } });
  try {
    const s = net.connect(h.port, '127.0.0.1');
    s.write('raw bytes, not http');
    const got = await new Promise<string>((r) => s.once('data', (d) => r(String(d))));
    assert.equal(got, 'RAW BYTES, NOT HTTP');
    const c = h.state.current.cluster('InboundPassthroughCluster')!;
    assert.equal(c.stats.upstream_tcp_active, 1);
    assert.equal(c.endpoints.all[0]!.source, '127.0.0.6');
    s.destroy();
  } finally {
    for (const a of accepted) a.destroy();
    server.close();
    await h.close();
  }
});
