/**
 * The connection manager's protections on the downstream side, with real sockets: a request whose header section
 * arrives too slowly gets 408 at the request-headers timeout (slowloris), while an idle keep-alive connection is not
 * touched by it; malformed requests get 400 and are published like any request (flag DPE); a drain closes idle
 * keep-alive connections at once (Node's connection tracking must be running for that, as for the timeout).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { captureHttpEvents, startHarness, startUpstream, type Harness } from '../../support/routing';

async function proxy(upstreamPort: number, requestHeadersTimeoutMs: number): Promise<Harness> {
  return startHarness(
    `services:\n  - host: web\n    addresses: [198.19.0.1]\n    ports: [{port: 80, protocol: HTTP}]\n    endpoints: [{address: 127.0.0.1, port: ${upstreamPort}}]\n`,
    { dst: { address: '198.19.0.1', port: 80 }, requestHeadersTimeoutMs },
  );
}

/** Sends `bytes` (optionally one byte per `dripMs`) and resolves with everything received until the close. */
function exchange(port: number, bytes: string, dripMs = 0): Promise<{ text: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    const s = net.connect(port, '127.0.0.1', () => {
      if (dripMs === 0) s.write(bytes);
      else {
        let at = 0;
        timer = setInterval(() => at < bytes.length && s.writable && s.write(bytes[at++]!), dripMs);
      }
    });
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      if (timer) clearInterval(timer);
      resolve({ text, ms: Date.now() - started });
    });
  });
}

test('slowloris: 408 at the request-headers timeout; an idle keep-alive connection is left alone', { timeout: 20_000 }, async () => {
  const up = await startUpstream((_q, s) => s.end('ok'));
  const p = await proxy(up.port, 400);
  const ev = captureHttpEvents();
  try {
    const slow = await exchange(p.port, `GET / HTTP/1.1\r\nHost: web\r\n${'X-Pad: 0123456789\r\n'.repeat(40)}\r\n`, 20);
    assert.match(slow.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.ok(slow.ms >= 350 && slow.ms < 2000, `answered at the timeout (${slow.ms} ms)`);
    const e = await ev.next();
    assert.equal(e.responseCode, 408);
    assert.equal(e.responseCodeDetails, 'request_header_timeout');
    assert.equal(up.requests, 0, 'nothing was forwarded');

    // A keep-alive connection idle between requests for longer than the timeout keeps working.
    const idle = net.connect(p.port, '127.0.0.1');
    let got = '';
    idle.on('data', (c: Buffer) => (got += c.toString()));
    idle.write('GET /a HTTP/1.1\r\nHost: web\r\n\r\n');
    await new Promise((r) => setTimeout(r, 1000));
    idle.write('GET /b HTTP/1.1\r\nHost: web\r\n\r\n');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(got.match(/HTTP\/1\.1 200 OK/g)?.length, 2, `both requests answered: ${got}`);
    assert.equal(idle.destroyed, false);
    idle.destroy();
  } finally {
    ev.stop();
    await p.close();
    await up.close();
  }
});

test('malformed requests: 400 with Connection: close, published with flag DPE, never forwarded', async () => {
  const up = await startUpstream((_q, s) => s.end('ok'));
  const p = await proxy(up.port, 10_000);
  const ev = captureHttpEvents();
  try {
    for (const bytes of [
      'POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n\r\n',
      'GET / HTTP/1.1\r\n\r\n',
    ]) {
      const r = await exchange(p.port, bytes);
      assert.match(r.text, /^HTTP\/1\.1 400 Bad Request\r\n/, JSON.stringify(bytes));
      assert.match(r.text, /\r\nconnection: close\r\n/i);
      const e = await ev.next();
      assert.deepEqual([e.responseCode, e.responseFlags], [400, 'DPE'], JSON.stringify(bytes));
    }
    assert.equal(up.requests, 0);
  } finally {
    ev.stop();
    await p.close();
    await up.close();
  }
});

test('a drain closes idle keep-alive connections at once', async () => {
  const up = await startUpstream((_q, s) => s.end('ok'));
  const p = await proxy(up.port, 10_000);
  try {
    const idle = net.connect(p.port, '127.0.0.1');
    const closed = new Promise<number>((r) => idle.once('close', () => r(Date.now())));
    idle.on('data', () => undefined);
    idle.write('GET / HTTP/1.1\r\nHost: web\r\n\r\n');
    await new Promise((r) => setTimeout(r, 200));
    const drainedAt = Date.now();
    p.http.startDrain();
    const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 2000))]);
    assert.ok(at > 0 && at - drainedAt < 500, 'the idle connection was closed by the drain');
  } finally {
    await p.close();
    await up.close();
  }
});
