/**
 * Issue 10, faults: upstreams that refuse, reset mid-stream, blackhole the SYN (connect timeout), answer slowly or
 * close half-way, behind HTTP and TCP routes of a real `sidelane run` (hooked clients in the client pod, misbehaving
 * servers in another pod). Each case checks what the client saw (status and body of Envoy's local reply, or a
 * faithful reset / FIN), the access log's response flag (docs/config.md, docs/metrics.md), the cluster counters, and
 * that the proxy's workers hold exactly as many file descriptors afterwards as before.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { APPS, CLI, cleanEnv, init, startApp, startProxy, type RunningProxy } from '../../support/mesh';
import { fdSnapshot, fdsNetOfPipePool, jsonLines, settle, stats, workerPids } from '../../support/proxy-probe';

const HOST = 'faults.test.svc.cluster.local';
const VIP = '198.19.1.10';

interface Probe {
  end: string;
  received: number;
  head: string;
  afterPeerFin: number;
}

async function tcpProbe(pod: Pod, port: number, send: number, timeoutMs: number, keep = false): Promise<Probe> {
  const r = await pod.exec('node', [CLI, 'exec', '--', 'node', path.join(APPS, 'tcp-probe.js'), VIP, String(port), String(send), String(timeoutMs), ...(keep ? ['keep'] : [])], { env: cleanEnv() });
  return JSON.parse(r.stdout.trim()) as Probe;
}

interface CurlResult {
  code: string;
  exit: number;
  body: string;
  size: number;
}

async function hookedCurl(pod: Pod, port: number, pathAndQuery = '/'): Promise<CurlResult> {
  const r = await pod.exec(
    'node',
    [CLI, 'exec', '--', 'curl', '-sS', '--max-time', '10', '-o', '-', '-w', '\n%{http_code} %{size_download}', `http://${VIP}:${port}${pathAndQuery}`],
    { env: cleanEnv(), allowFailure: true },
  );
  const lines = r.stdout.split('\n');
  const [code = '', size = '0'] = (lines.pop() ?? '').split(' ');
  return { code, exit: r.code, body: lines.join('\n'), size: Number(size) };
}

/** The proxy's access-log entry for the connection/request to original destination port `port` (waits for it). */
async function accessEntry(proxy: RunningProxy, port: number, type: 'http' | 'tcp'): Promise<Record<string, unknown>> {
  const find = (): Record<string, unknown> | undefined =>
    jsonLines(proxy.stdout()).find((e) => e.type === type && e.original_dst === `${VIP}:${port}`);
  const e = await settle(find, (v) => v !== undefined, 5000);
  assert.ok(e, `no ${type} access-log entry for ${VIP}:${port}`);
  return e;
}

test('upstream faults give the documented status and flag or a faithful reset, and leak no file descriptor', { timeout: 150_000 }, async (t) => {
  await withLab(t, { prefix: 'rlfault' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    const ports = (list: number[], protocol: string): string => list.map((p) => `{port: ${p}, protocol: ${protocol}}`).join(', ');
    const config = path.join(os.tmpdir(), `${lab.id}-faults.yaml`);
    writeFileSync(
      config,
      `defaults:
  connectTimeout: 1s
  retries: {attempts: 0}
services:
  - host: ${HOST}
    addresses: [${VIP}]
    ports: [${ports([7001, 7002, 7003, 7004, 7005, 7006, 7007], 'HTTP')}, ${ports([7101, 7102, 7103, 7104, 7105], 'TCP')}]
    endpoints: [{address: ${server.ipv4}}]
  - host: idle.test.svc.cluster.local
    addresses: [198.19.1.11]
    ports: [{port: 7106, protocol: TCP}]
    endpoints: [{address: ${server.ipv4}}]
    idleTimeout: 1s
routes:
  - host: ${HOST}
    port: 7004
    http: [{route: [{host: ${HOST}}], timeout: 1s}]
inbound:
  ports: [{port: 8081, protocol: HTTP}]
`,
    );
    await init(client);
    const proxy = await startProxy(client, ['--config', config, '--concurrency', '2']);
    // 7001/7101 refuse (nothing listens), 7003/7103 blackhole (SYNs dropped).
    const app = await startApp(server, 'node', [path.join(APPS, 'fault-server.js'), '7002:http-reset-mid', '7004:http-slow:3000', '7005:http-close-mid', '7006:http-close-before', '7007:http-reset-before', '7102:tcp-reset-mid', '7104:tcp-slow:1500', '7105:tcp-half', '7106:tcp-slow:3000'], /listening/);
    let appOut = '';
    app.stdout?.on('data', (d: Buffer) => (appOut += d.toString()));
    const serverOut = (): string => appOut;
    await server.exec('nft', ['-f', '-'], { input: 'table inet blackhole {\n chain input {\n  type filter hook input priority 0;\n  tcp dport { 7003, 7103 } drop\n }\n}\n' });
    const pids = await workerPids(client);

    const check = async (name: string, body: () => Promise<void>): Promise<void> => {
      await t.test(name, async () => {
        const before = await fdsNetOfPipePool(client, pids);
        await body();
        const after = await settle(() => fdsNetOfPipePool(client, pids), (n) => n === before);
        assert.equal(after, before, `worker fds (less pooled relay pipes) after "${name}" (${JSON.stringify(fdSnapshot(pids))})`);
      });
    };

    await check('HTTP, upstream refuses: 503 UF, ECONNREFUSED', async () => {
      const r = await hookedCurl(client, 7001);
      assert.equal(r.code, '503');
      assert.equal(r.body, 'upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: ECONNREFUSED');
      assert.equal((await accessEntry(proxy, 7001, 'http')).response_flags, 'UF');
    });
    await check('HTTP, upstream blackholes the SYN: 503 UF after the 1 s connect timeout, counted as a connect timeout', async () => {
      const started = Date.now();
      const r = await hookedCurl(client, 7003);
      const took = Date.now() - started;
      assert.equal(r.code, '503');
      assert.match(r.body, /connection failure, transport failure reason: ETIMEDOUT$/);
      assert.ok(took >= 900 && took < 5000, `answered after the connect timeout (${took} ms)`);
      assert.equal((await accessEntry(proxy, 7003, 'http')).response_flags, 'UF');
      const s = await stats(client, `outbound\\|7003\\|\\|${HOST.replace(/\./g, '\\.')}\\.upstream_cx_connect_timeout`);
      assert.equal(s[`cluster.outbound|7003||${HOST}.upstream_cx_connect_timeout`], 1, JSON.stringify(s));
    });
    await check('HTTP, upstream slower than the route timeout: 504 UT', async () => {
      const r = await hookedCurl(client, 7004);
      assert.equal(r.code, '504');
      assert.equal(r.body, 'upstream request timeout');
      assert.equal((await accessEntry(proxy, 7004, 'http')).response_flags, 'UT');
    });
    await check('HTTP, upstream resets mid-body: the response is cut (not completed), flag UC', async () => {
      const r = await hookedCurl(client, 7002);
      assert.equal(r.code, '200');
      assert.notEqual(r.exit, 0, 'curl must see the truncation (exit 18 or 56), never a complete response');
      assert.ok(r.size < 1 << 20, `only part of the 1 MiB body arrived (${r.size})`);
      assert.equal((await accessEntry(proxy, 7002, 'http')).response_flags, 'UC');
    });
    await check('HTTP, upstream closes mid-body (FIN, short body): the response is cut, flag UC', async () => {
      const r = await hookedCurl(client, 7005);
      assert.equal(r.code, '200');
      assert.notEqual(r.exit, 0, 'curl must see the truncation');
      assert.ok(r.size < 1 << 20);
      assert.equal((await accessEntry(proxy, 7005, 'http')).response_flags, 'UC');
    });
    await check('HTTP, upstream closes before answering: 503 UC, connection termination', async () => {
      const r = await hookedCurl(client, 7006);
      assert.equal(r.code, '503');
      assert.equal(r.body, 'upstream connect error or disconnect/reset before headers. reset reason: connection termination');
      assert.equal((await accessEntry(proxy, 7006, 'http')).response_flags, 'UC');
    });
    await check('HTTP, upstream resets before answering: 503 UC', async () => {
      const r = await hookedCurl(client, 7007);
      assert.equal(r.code, '503');
      assert.match(r.body, /reset reason: connection termination/);
      assert.equal((await accessEntry(proxy, 7007, 'http')).response_flags, 'UC');
    });
    await check('TCP, upstream refuses: the client is reset, flag UF', async () => {
      const r = await tcpProbe(client, 7101, 10, 5000);
      assert.equal(r.end, 'reset');
      assert.equal(r.received, 0);
      const e = await accessEntry(proxy, 7101, 'tcp');
      assert.equal(e.response_flags, 'UF');
      assert.equal(e.connection_end, 'upstream_connect_failure');
      assert.equal(e.upstream_transport_failure_reason, 'ECONNREFUSED');
    });
    await check('TCP, upstream blackholes the SYN: the client is reset after the connect timeout, flag UF, counted as a connect timeout', async () => {
      const started = Date.now();
      const r = await tcpProbe(client, 7103, 10, 8000);
      const took = Date.now() - started;
      assert.equal(r.end, 'reset');
      assert.ok(took >= 900 && took < 5000, `reset after the 1 s connect timeout (${took} ms)`);
      const e = await accessEntry(proxy, 7103, 'tcp');
      assert.equal(e.response_flags, 'UF');
      assert.equal(e.upstream_transport_failure_reason, 'ETIMEDOUT');
      const s = await stats(client, `outbound\\|7103\\|\\|${HOST.replace(/\./g, '\\.')}\\.upstream_cx_connect`);
      assert.equal(s[`cluster.outbound|7103||${HOST}.upstream_cx_connect_timeout`], 1, JSON.stringify(s));
    });
    await check('TCP, upstream resets mid-stream: bytes before the reset arrive, then the reset is forwarded, flag UR', async () => {
      const r = await tcpProbe(client, 7102, 0, 5000, true);
      assert.equal(r.end, 'reset');
      assert.ok(r.received > 0 && r.received <= 65536, `received ${r.received}`);
      const e = await accessEntry(proxy, 7102, 'tcp');
      assert.equal(e.response_flags, 'UR');
      assert.equal(e.connection_end, 'upstream_reset');
    });
    await check('TCP, slow upstream (1.5 s before its first byte, within the idle timeout): everything arrives', async () => {
      const r = await tcpProbe(client, 7104, 10, 8000);
      assert.equal(r.end, 'eof');
      assert.equal(r.head, `slow\n${'x'.repeat(10)}`);
      assert.equal((await accessEntry(proxy, 7104, 'tcp')).response_flags, '-');
    });
    await check('TCP, upstream silent past the idle timeout (1 s): closed by the proxy, flag SI', async () => {
      const started = Date.now();
      const r = await client.exec('node', [CLI, 'exec', '--', 'node', path.join(APPS, 'tcp-probe.js'), '198.19.1.11', '7106', '0', '8000', 'keep'], { env: cleanEnv() });
      const took = Date.now() - started;
      assert.equal((JSON.parse(r.stdout.trim()) as Probe).end, 'eof');
      assert.ok(took >= 900 && took < 2900, `closed at the idle timeout, before the upstream spoke (${took} ms)`);
      const e = await settle(() => jsonLines(proxy.stdout()).find((x) => x.original_dst === '198.19.1.11:7106'), (v) => v !== undefined, 5000);
      assert.equal(e?.response_flags, 'SI');
      assert.equal(e?.connection_end, 'idle_timeout');
    });
    await check('TCP, upstream closes half-way (FIN first): the FIN is forwarded, the client can still send and the upstream gets it', async () => {
      const r = await tcpProbe(client, 7105, 0, 5000, true);
      assert.equal(r.end, 'eof');
      assert.equal(r.head, 'bye\n');
      assert.equal(r.afterPeerFin, 1000);
      await settle(() => serverOut(), (o) => o.includes('received 1000 7105'), 5000);
      assert.match(serverOut(), /received 1000 7105/);
      assert.equal((await accessEntry(proxy, 7105, 'tcp')).response_flags, '-');
    });
    await check('inbound: the local app is not listening — TCP reset (UF), HTTP port 503 UF', async () => {
      const tcp = await server.exec('node', [path.join(APPS, 'tcp-probe.js'), client.ipv4, '8090', '10', '5000']);
      assert.equal((JSON.parse(tcp.stdout.trim()) as Probe).end, 'reset');
      const http = await server.exec('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `http://${client.ipv4}:8081/`], { allowFailure: true });
      assert.equal(http.stdout, '503');
      // The access log line follows the reset and the 503 by a moment (a loaded machine may delay the worker's write).
      const logged = (port: number): Promise<Record<string, unknown> | undefined> =>
        settle(() => jsonLines(proxy.stdout()).find((e) => e.direction === 'inbound' && e.original_dst === `${client.ipv4}:${port}`), (v) => v !== undefined, 5000);
      assert.equal((await logged(8090))?.response_flags, 'UF');
      assert.equal((await logged(8081))?.response_flags, 'UF');
    });

    // Every fault reached the server once (no retries configured), and the proxy's workers are the ones it started.
    const conns = serverOut().split('\n').filter((l) => l.startsWith('conn '));
    for (const p of [7002, 7004, 7005, 7006, 7007, 7102, 7104, 7105]) assert.equal(conns.filter((l) => l.startsWith(`conn ${p} `)).length, 1, `connections to :${p}`);
    assert.deepEqual(await workerPids(client), pids, 'no worker crashed');
  });
});
