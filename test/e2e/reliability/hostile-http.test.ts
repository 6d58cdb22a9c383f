/**
 * Issue 10, hostile HTTP through a real `sidelane run`, on both HTTP paths: outbound (a hooked client → the
 * client's sidecar → a recording upstream) and inbound (a plain client in another pod → TPROXY → the server's
 * sidecar → a recording app). Oversized headers, request smuggling shapes (conflicting or duplicate
 * Content-Length / Transfer-Encoding, obs-fold, bad chunk sizes), malformed request lines and headers, and
 * slowloris are each answered by the proxy itself with the right status (431, 400, 408) and never forwarded: the
 * recording upstream sees no byte of them. A valid request is the control (it does reach the upstream). The
 * rejections are counted like requests (istio_requests_total with the status, flag DPE).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { APPS, CLI, cleanEnv, init, startApp, startProxy } from '../../support/mesh';
import { jsonLines, settle } from '../../support/proxy-probe';
import { scrape, sum } from '../../support/prometheus';

const VIP = '198.19.2.10';

interface Reply {
  status: string;
  closed: string;
  ms: number;
  bytes: number;
}

const HOSTILE: readonly { name: string; payload: string; status: number }[] = [
  { name: 'oversized header section (70 KiB > 60 KiB)', payload: `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, status: 431 },
  { name: 'CL.TE: Content-Length and Transfer-Encoding', payload: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n', status: 400 },
  { name: 'TE.CL: Transfer-Encoding then Content-Length', payload: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'two different Content-Length headers', payload: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', status: 400 },
  { name: 'duplicate Content-Length (same value)', payload: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello', status: 400 },
  { name: 'Content-Length list "5, 5"', payload: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello', status: 400 },
  { name: 'non-numeric Content-Length', payload: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5a\r\n\r\nhello', status: 400 },
  { name: 'obs-fold (a header continued on the next line)', payload: 'GET / HTTP/1.1\r\nHost: x\r\nX-Foo: a\r\n b\r\n\r\n', status: 400 },
  { name: 'Transfer-Encoding: xchunked', payload: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'Transfer-Encoding: chunked, identity', payload: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'space before the colon ("Transfer-Encoding : chunked")', payload: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'bad chunk size', payload: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n', status: 400 },
  { name: 'chunk size overflow', payload: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n', status: 400 },
  { name: 'bare LF line endings', payload: 'GET / HTTP/1.1\nHost: x\n\n', status: 400 },
  { name: 'NUL in a header value', payload: 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n', status: 400 },
  { name: 'HTTP/1.1 without Host', payload: 'GET / HTTP/1.1\r\n\r\n', status: 400 },
  { name: 'invalid method token', payload: 'G@T / HTTP/1.1\r\nHost: x\r\n\r\n', status: 400 },
];

async function send(pod: Pod, host: string, port: number, payload: string, hooked: boolean, extra: string[] = []): Promise<Reply> {
  const argv = ['node', path.join(APPS, 'raw-http.js'), host, String(port), Buffer.from(payload, 'latin1').toString('base64'), ...extra];
  const r = hooked ? await pod.exec('node', [CLI, 'exec', '--', ...argv], { env: cleanEnv() }) : await pod.exec(argv[0]!, argv.slice(1));
  return JSON.parse(r.stdout.trim()) as Reply;
}

test('hostile HTTP is answered by the proxy with the right status and never forwarded (outbound and inbound)', { timeout: 150_000 }, async (t) => {
  await withLab(t, { prefix: 'rlhttp' }, async (lab) => {
    const attacker = await lab.addPod('attacker');
    const server = await lab.addPod('server');
    const client = await lab.addPod('client');
    const config = path.join(os.tmpdir(), `${lab.id}-hostile.yaml`);
    writeFileSync(
      config,
      `services:
  - host: upstream.test.svc.cluster.local
    addresses: [${VIP}]
    ports: [{port: 9090, protocol: HTTP}]
    endpoints: [{address: ${attacker.ipv4}}]
inbound:
  ports: [{port: 8080, protocol: HTTP}]
`,
    );
    // The recording upstreams: the attacker pod's (for outbound) and the server pod's app (for inbound).
    const recorders = {
      outbound: await startApp(attacker, 'node', [path.join(APPS, 'fault-server.js'), '9090:record'], /listening/),
      inbound: await startApp(server, 'node', [path.join(APPS, 'fault-server.js'), '8080:record'], /listening/),
    };
    const seen = { outbound: '', inbound: '' };
    recorders.outbound.stdout?.on('data', (d: Buffer) => (seen.outbound += d.toString()));
    recorders.inbound.stdout?.on('data', (d: Buffer) => (seen.inbound += d.toString()));
    await init(client);
    await init(server);
    const proxies = {
      outbound: await startProxy(client, ['--config', config, '--request-headers-timeout', '2s']),
      inbound: await startProxy(server, ['--config', config, '--request-headers-timeout', '2s']),
    };
    const paths = {
      outbound: { pod: client, host: VIP, port: 9090, hooked: true },
      inbound: { pod: attacker, host: server.ipv4, port: 8080, hooked: false },
    } as const;
    const recv = (dir: 'outbound' | 'inbound'): string[] => seen[dir].split('\n').filter((l) => l.startsWith('recv '));

    for (const dir of ['outbound', 'inbound'] as const) {
      const p = paths[dir];
      await t.test(`${dir}: a valid request reaches the upstream (the control)`, async () => {
        const r = await send(p.pod, p.host, p.port, 'GET /control HTTP/1.1\r\nHost: upstream\r\nConnection: close\r\n\r\n', p.hooked);
        assert.equal(r.status, 'HTTP/1.1 200 OK');
        const got = await settle(() => recv(dir), (l) => l.length > 0, 3000);
        assert.match(Buffer.from(got.join('').split(' ').pop() ?? '', 'base64').toString('latin1'), /^GET \/control HTTP\/1\.1\r\n/);
        seen[dir] = '';
      });
      const logged = (): Record<string, unknown>[] => jsonLines(proxies[dir].stdout()).filter((e) => e.type === 'http');
      for (const c of HOSTILE) {
        await t.test(`${dir}: ${c.name} → ${c.status}, not forwarded, logged`, async () => {
          const before = logged().length;
          const r = await send(p.pod, p.host, p.port, c.payload, p.hooked);
          assert.match(r.status, new RegExp(`^HTTP/1\\.1 ${c.status} `), JSON.stringify(r));
          assert.notEqual(r.closed, 'timeout', 'the proxy closes the connection after its answer');
          const after = await settle(logged, (l) => l.length > before, 2000);
          assert.deepEqual(after.slice(before).map((e) => [e.response_code, e.response_flags]), [[c.status, 'DPE']], 'one access-log entry, with the status and flag DPE');
        });
      }
      await t.test(`${dir}: slowloris (one header byte every 100 ms) → 408 at the 2 s request-headers timeout`, async () => {
        const slow = `GET /slow HTTP/1.1\r\nHost: x\r\n${'X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(20)}\r\n`;
        const r = await send(p.pod, p.host, p.port, slow, p.hooked, ['15000', '100']);
        assert.equal(r.status, 'HTTP/1.1 408 Request Timeout', JSON.stringify(r));
        assert.ok(r.ms >= 1800 && r.ms < 5000, `closed at the timeout (${r.ms} ms)`);
      });
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(recv(dir), [], `${dir}: the upstream saw no byte of any hostile request`);
    }

    // Counted like requests: every rejection appears in istio_requests_total with its status and flag DPE.
    const cm = await scrape(client);
    assert.equal(sum(cm, 'istio_requests_total', { reporter: 'source', response_code: '400', response_flags: 'DPE' }), HOSTILE.filter((c) => c.status === 400).length);
    assert.equal(sum(cm, 'istio_requests_total', { reporter: 'source', response_code: '431', response_flags: 'DPE' }), 1);
    assert.equal(sum(cm, 'istio_requests_total', { reporter: 'source', response_code: '408' }), 1);
    const sm = await scrape(server);
    assert.equal(sum(sm, 'istio_requests_total', { reporter: 'destination', response_code: '400', response_flags: 'DPE' }), HOSTILE.filter((c) => c.status === 400).length);
    const logged = jsonLines(proxies.inbound.stdout()).filter((e) => e.type === 'http' && e.response_code === 408);
    assert.equal(logged.length, 1, 'the slowloris connection has an access-log entry');
    assert.equal(logged[0]?.response_code_details, 'request_header_timeout');
  });
});
