/**
 * Issue 6 acceptance, metrics and logs: after a known mix of traffic — HTTP requests with known status codes and
 * TCP connections with known byte counts, from a hooked client through both sidecars — both proxies' scrapes,
 * parsed with a real Prometheus text-format parser, show exactly those counts with Istio's labels, and the access
 * logs have one entry per request and connection, field by field, with the calling process from the hook.
 * Also (issue 4): a hooked connection is seen once by the proxy — on the hook path, never again through TPROXY.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { withLab } from '../../support/netns';
import { echoServer, execHooked, httpEcho, init, startProxy } from '../../support/mesh';
import { samplesNamed, scrape, sum } from '../../support/prometheus';
import { settle } from '../../support/proxy-probe';

const WEB = 'web.default.svc.cluster.local';
const RAW = 'raw.default.svc.cluster.local';

test('metrics and access logs count exactly the traffic that flowed, with Istio labels and the caller process', { timeout: 180_000 }, async (t) => {
  await withLab(t, { prefix: 'obsm' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    const services = `
services:
  - host: ${WEB}
    addresses: [198.19.0.20]
    ports: [{port: 8080, protocol: HTTP}]
    endpoints: [{address: ${server.ipv4}, labels: {app: web, version: v1}}]
  - host: ${RAW}
    addresses: [198.19.0.21]
    ports: [{port: 9000, protocol: TCP}]
    endpoints: [{address: ${server.ipv4}, labels: {app: raw, version: v2}}]
  - host: client.default.svc.cluster.local
    ports: [{port: 80, protocol: HTTP}]
    endpoints: [{address: ${client.ipv4}, labels: {app: client, version: v1}}]
`;
    const dir = os.tmpdir();
    const clientConfig = path.join(dir, `${lab.id}-client.yaml`);
    const serverConfig = path.join(dir, `${lab.id}-server.yaml`);
    writeFileSync(clientConfig, `workload: {name: client-v1, namespace: default, labels: {app: client, version: v1}}\n${services}`);
    writeFileSync(serverConfig, `workload: {name: web-v1, namespace: default, labels: {app: web, version: v1}}\n${services}\ninbound:\n  ports: [{port: 8080, protocol: HTTP}, {port: 9000, protocol: TCP}]\n`);
    lab.setHosts({ [WEB]: '198.19.0.20', [RAW]: '198.19.0.21' });
    await init(client);
    await init(server);
    const clientProxy = await startProxy(client, ['--config', clientConfig]);
    const serverProxy = await startProxy(server, ['--config', serverConfig]);
    await httpEcho(server, ['8080:web']);
    await echoServer(server, ['9000:raw']);

    // 7 HTTP requests from one curl process (hooked): 4 × 200, 2 × 404, 1 × 503.
    const urls = [200, 200, 200, 200, 404, 404, 503].map((code, i) => `http://${WEB}:8080/r${i}?status=${code}`);
    const codes = await execHooked(client, ['curl', '-sS', '-w', '%{http_code}\\n', ...urls.flatMap((u) => ['-o', '/dev/null', u])]);
    assert.deepEqual(codes.trim().split('\n'), ['200', '200', '200', '200', '404', '404', '503']);
    // 3 TCP connections from one python process, 1,000 bytes each way.
    const tcp = `
import socket
for i in range(3):
    s = socket.create_connection(('${RAW}', 9000), timeout=10)
    s.sendall(b'x' * 1000); s.shutdown(socket.SHUT_WR)
    got = b''
    while True:
        c = s.recv(65536)
        if not c: break
        got += c
    assert len(got) == 1000, len(got)
    s.close()
print('ok')`;
    assert.equal((await execHooked(client, ['python3', '-c', tcp])).trim(), 'ok');
    // Closes are published when each proxy has seen both sides end (the native relay reports them in batches):
    // wait until both have counted the three TCP connections, then every count below must be exact.
    await settle(async () => sum(await scrape(client), 'istio_tcp_connections_closed_total', { reporter: 'source' }), (n) => n >= 3);
    await settle(async () => sum(await scrape(server), 'istio_tcp_connections_closed_total', { reporter: 'destination' }), (n) => n >= 3);

    // --- the client's sidecar (reporter=source) ---------------------------------------------------------------
    const cm = await scrape(client);
    const src = { reporter: 'source', destination_service: WEB, source_workload: 'client-v1', destination_app: 'web', destination_version: 'v1' };
    assert.equal(sum(cm, 'istio_requests_total', { ...src, response_code: '200' }), 4);
    assert.equal(sum(cm, 'istio_requests_total', { ...src, response_code: '404' }), 2);
    assert.equal(sum(cm, 'istio_requests_total', { ...src, response_code: '503' }), 1);
    assert.equal(sum(cm, 'istio_requests_total'), 7, 'no other request was counted');
    assert.equal(sum(cm, 'istio_request_duration_milliseconds_count', src), 7, 'the duration histogram counted every request');
    const one = samplesNamed(cm, 'istio_requests_total').find((s) => s.labels.response_code === '503')!;
    assert.equal(one.labels.destination_workload, 'web-v1');
    assert.equal(one.labels.destination_service_namespace, 'default');
    assert.equal(one.labels.destination_service_name, 'web');
    assert.equal(one.labels.source_app, 'client');
    assert.equal(one.labels.request_protocol, 'http');
    assert.equal(one.labels.response_flags, '-');
    const tsrc = { reporter: 'source', destination_service: RAW, destination_app: 'raw', destination_version: 'v2' };
    assert.equal(sum(cm, 'istio_tcp_connections_opened_total', tsrc), 3);
    assert.equal(sum(cm, 'istio_tcp_connections_closed_total', tsrc), 3);
    assert.equal(sum(cm, 'istio_tcp_received_bytes_total', tsrc), 3000);
    assert.equal(sum(cm, 'istio_tcp_sent_bytes_total', tsrc), 3000);
    // Per-cluster counters (Envoy names) and the capture path: everything came through the hook, once each.
    assert.equal(sum(cm, 'envoy_cluster_upstream_rq_total', { cluster_name: `outbound|8080||${WEB}` }), 7);
    assert.equal(sum(cm, 'envoy_cluster_upstream_cx_total', { cluster_name: `outbound|9000||${RAW}` }), 3);
    const hookConnections = sum(cm, 'sidelane_capture_connections_total', { direction: 'outbound', capture: 'hook' });
    assert.ok(hookConnections >= 4 && hookConnections <= 10, `hooked connections counted on the hook path (${hookConnections})`);
    assert.equal(sum(cm, 'sidelane_capture_connections_total', { capture: 'tproxy' }), 0, 'a hooked connection is never captured a second time by TPROXY');
    assert.ok(sum(cm, 'process_resident_memory_bytes') > 0, 'process metrics are exported');
    assert.equal(samplesNamed(cm, 'istio_requests_total')[0]?.type, 'counter');

    // --- the server's sidecar (reporter=destination) -----------------------------------------------------------
    const sm = await scrape(server);
    const dst = { reporter: 'destination', source_workload: 'client-v1', source_app: 'client', destination_workload: 'web-v1' };
    assert.equal(sum(sm, 'istio_requests_total', { ...dst, response_code: '200' }), 4);
    assert.equal(sum(sm, 'istio_requests_total', { ...dst, response_code: '404' }), 2);
    assert.equal(sum(sm, 'istio_requests_total', { ...dst, response_code: '503' }), 1);
    assert.equal(sum(sm, 'istio_tcp_connections_closed_total', { reporter: 'destination' }), 3);
    assert.equal(sum(sm, 'istio_tcp_received_bytes_total', { reporter: 'destination' }), 3000);
    assert.equal(sum(sm, 'istio_tcp_sent_bytes_total', { reporter: 'destination' }), 3000);
    assert.equal(sum(sm, 'sidelane_capture_connections_total', { direction: 'inbound', capture: 'tproxy' }), sum(cm, 'envoy_cluster_upstream_cx_total'));

    // --- access logs: one line per request and per TCP connection, field by field --------------------------------
    const entries = clientProxy
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const http = entries.filter((e) => e.type === 'http');
    assert.equal(http.length, 7, `client access log HTTP entries: ${JSON.stringify(entries)}`);
    assert.deepEqual(http.map((e) => e.response_code).sort(), [200, 200, 200, 200, 404, 404, 503]);
    for (const e of http) {
      assert.equal(e.direction, 'outbound');
      assert.equal(e.capture, 'hook');
      assert.equal(e.method, 'GET');
      assert.match(String(e.path), /^\/r\d\?status=\d{3}$/);
      assert.equal(e.authority, `${WEB}:8080`);
      assert.equal(e.upstream_cluster, `outbound|8080||${WEB}`);
      assert.equal(e.upstream_host, `${server.ipv4}:8080`);
      assert.equal(e.original_dst, '198.19.0.20:8080');
      assert.equal(e.response_flags, '-');
      assert.ok(typeof e.duration === 'number' && typeof e.request_id === 'string' && String(e.request_id).length > 10);
      assert.equal((e.caller as { comm: string }).comm, 'curl', 'the calling process, from the hook');
      assert.ok((e.caller as { pid: number }).pid > 1);
    }
    const tcpLines = entries.filter((e) => e.type === 'tcp');
    assert.equal(tcpLines.length, 3);
    for (const e of tcpLines) {
      assert.equal(e.bytes_received, 1000);
      assert.equal(e.bytes_sent, 1000);
      assert.equal(e.upstream_cluster, `outbound|9000||${RAW}`);
      assert.equal(e.original_dst, '198.19.0.21:9000');
      assert.equal(e.connection_end, 'closed');
      assert.match(String((e.caller as { comm: string }).comm), /^python/);
    }
    const serverHttp = serverProxy
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.type === 'http');
    assert.equal(serverHttp.length, 7);
    assert.ok(serverHttp.every((e) => e.direction === 'inbound' && e.capture === 'tproxy' && String(e.downstream_remote_address).startsWith(`${client.ipv4}:`)));
  });
});
