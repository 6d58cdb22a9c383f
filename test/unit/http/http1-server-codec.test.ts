/**
 * The downstream HTTP/1.1 codec's framing and ordering, byte for byte on real sockets through the routing harness:
 * pipelined requests served one at a time in order (bodies, HEAD, a queue deeper than the read limit), 100-continue
 * answered by the proxy, bodies re-framed for the client's version (chunked for 1.1, close-delimited for 1.0),
 * HTTP/1.0 keep-alive, trailers not forwarded, an unread body discarded before the next request, CONNECT refused,
 * a client's FIN during a response reported as DC, and the delayed close after a last response.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { readResponses, type ResponseStream } from '../../support/http-response-reader';
import { captureHttpEvents, startHarness, startUpstream, type Harness } from '../../support/routing';

/** `onlyPrefix`: the one path prefix routed (others get 404, flag NR). */
const mesh = (port: number, onlyPrefix?: string): string => `
services:
  - host: web
    addresses: [198.19.0.1]
    ports: [{port: 9080, protocol: HTTP}]
    endpoints: [{address: 127.0.0.1, port: ${port}}]
${onlyPrefix === undefined ? '' : `routes:\n  - host: web\n    http:\n      - match: [{uri: {prefix: ${onlyPrefix}}}]\n        route: [{host: web}]\n`}`;

/** The original destination every test connection claims: the service's VIP and port (nothing else is reachable). */
const DST = { address: '198.19.0.1', port: 9080 };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An upstream that records what it saw and how many requests it had in flight at once. */
async function recorder(respond: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void = (req, res, body) => res.end(`${req.method} ${req.url} ${body.length}`)) {
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer; trailers: NodeJS.Dict<string> }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const up = await startUpstream((req, res) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, trailers: req.trailers });
      // A little later, so that pipelined requests would overlap if the proxy sent them concurrently.
      setTimeout(() => {
        res.on('finish', () => (inFlight -= 1));
        respond(req, res, body);
      }, 5);
    });
  });
  return { up, seen, maxInFlight: () => maxInFlight };
}

/** Writes `bytes` on a new connection and collects responses until `count` final ones came or the proxy closed. */
async function converse(h: Harness, bytes: string | Buffer, methods: string[], count: number, opts: { end?: boolean } = {}): Promise<{ parsed: ResponseStream; closed: boolean; raw: string }> {
  const socket = net.connect(h.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  socket.write(bytes);
  if (opts.end) socket.end();
  const deadline = Date.now() + 5000;
  for (;;) {
    const parsed = readResponses(Buffer.concat(chunks), methods, closed);
    if (parsed.error !== undefined || parsed.responses.filter((r) => r.final).length >= count || closed || Date.now() > deadline) {
      await sleep(50);
      const final = readResponses(Buffer.concat(chunks), methods, closed);
      socket.destroy();
      return { parsed: final, closed, raw: Buffer.concat(chunks).toString('latin1') };
    }
    await sleep(10);
  }
}

const header = (r: { headers: readonly (readonly [string, string])[] }, name: string): string | undefined => r.headers.find(([n]) => n.toLowerCase() === name)?.[1];

test('pipelined requests are served one at a time, in order, bodies intact (POST, GET, HEAD)', async () => {
  const rec = await recorder();
  const h = await startHarness(mesh(rec.up.port), { dst: DST });
  try {
    const bytes =
      'POST /a HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\n\r\nhello' +
      'POST /b HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n' +
      'GET /c HTTP/1.1\r\nHost: web\r\n\r\n' +
      'HEAD /d HTTP/1.1\r\nHost: web\r\n\r\n' +
      'GET /e HTTP/1.1\r\nHost: web\r\n\r\n';
    const methods = ['POST', 'POST', 'GET', 'HEAD', 'GET'];
    const { parsed, closed } = await converse(h, bytes, methods, 5);
    assert.equal(parsed.error, undefined);
    assert.equal(closed, false, 'kept alive');
    assert.deepEqual(
      parsed.responses.map((r) => `${r.status} ${r.body.toString()}`),
      ['200 POST /a 5', '200 POST /b 5', '200 GET /c 0', '200 ', '200 GET /e 0'],
    );
    assert.deepEqual(rec.seen.map((s) => `${s.method} ${s.url} ${s.body.toString()}`), ['POST /a hello', 'POST /b abcde', 'GET /c ', 'HEAD /d ', 'GET /e ']);
    assert.equal(rec.maxInFlight(), 1, 'never two requests of one connection upstream at once');
    assert.deepEqual(rec.seen[1]!.trailers, {}, 'trailers are not forwarded');
    assert.equal(rec.seen[1]!.headers['content-length'], '5', 'a small chunked body is buffered (for retries) and goes upstream with its length');
  } finally {
    await h.close();
    await rec.up.close();
  }
});

test('a queue of pipelined requests deeper than the read limit: all answered in order', async () => {
  const rec = await recorder();
  const h = await startHarness(mesh(rec.up.port), { dst: DST });
  try {
    const n = 60;
    const bytes = Array.from({ length: n }, (_, i) => `GET /q${i} HTTP/1.1\r\nHost: web\r\n\r\n`).join('');
    const { parsed } = await converse(h, bytes, [], n);
    assert.equal(parsed.error, undefined);
    assert.deepEqual(
      parsed.responses.map((r) => r.body.toString()),
      Array.from({ length: n }, (_, i) => `GET /q${i} 0`),
    );
  } finally {
    await h.close();
    await rec.up.close();
  }
});

test('Expect: 100-continue is answered by the proxy; the body follows and is forwarded (without Expect)', async () => {
  const rec = await recorder();
  const h = await startHarness(mesh(rec.up.port), { dst: DST });
  try {
    const socket = net.connect(h.port, '127.0.0.1');
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.write('PUT /up HTTP/1.1\r\nHost: web\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
    const until = async (what: RegExp): Promise<void> => {
      for (let i = 0; i < 300 && !what.test(got); i++) await sleep(10);
      assert.match(got, what);
    };
    await until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    socket.write('data');
    await until(/PUT \/up 4$/);
    socket.destroy();
    assert.equal(rec.seen[0]!.body.toString(), 'data');
    assert.equal(rec.seen[0]!.headers.expect, undefined, 'Expect is hop-by-hop');
  } finally {
    await h.close();
    await rec.up.close();
  }
});

test('a body of unknown length: chunked again for an HTTP/1.1 client, delimited by the close for HTTP/1.0', async () => {
  const body = createHash('sha256').update('x').digest('hex').repeat(100);
  const rec = await recorder((_req, res) => {
    res.write(body.slice(0, 1000)); // no content-length: Node's upstream sends it chunked
    res.end(body.slice(1000));
  });
  const h = await startHarness(mesh(rec.up.port), { dst: DST });
  try {
    const v11 = await converse(h, 'GET /1 HTTP/1.1\r\nHost: web\r\n\r\nGET /2 HTTP/1.1\r\nHost: web\r\n\r\n', [], 2);
    assert.equal(v11.parsed.error, undefined);
    assert.deepEqual(v11.parsed.responses.map((r) => [header(r, 'transfer-encoding'), r.body.toString()]), [['chunked', body], ['chunked', body]]);
    assert.equal(v11.closed, false);

    const v10 = await converse(h, 'GET /3 HTTP/1.0\r\nHost: web\r\n\r\n', [], 1);
    assert.equal(v10.closed, true, 'HTTP/1.0: the close ends the body');
    assert.equal(v10.parsed.error, undefined);
    const r = v10.parsed.responses[0]!;
    assert.equal(header(r, 'transfer-encoding'), undefined);
    assert.equal(header(r, 'connection'), 'close');
    assert.equal(r.body.toString(), body);
  } finally {
    await h.close();
    await rec.up.close();
  }
});

test('HTTP/1.0 with Connection: keep-alive stays open when the length is known', async () => {
  const rec = await recorder();
  const h = await startHarness(mesh(rec.up.port), { dst: DST });
  try {
    const two = 'GET /1 HTTP/1.0\r\nHost: web\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\nHost: web\r\nConnection: keep-alive\r\n\r\n';
    const { parsed, closed } = await converse(h, two, [], 2);
    assert.equal(parsed.error, undefined);
    assert.deepEqual(parsed.responses.map((r) => [header(r, 'connection'), r.body.toString()]), [['keep-alive', 'GET /1 0'], ['keep-alive', 'GET /2 0']]);
    assert.equal(closed, false);
    const plain = await converse(h, 'GET /3 HTTP/1.0\r\nHost: web\r\n\r\n', [], 1);
    assert.equal(header(plain.parsed.responses[0]!, 'connection'), 'close');
    assert.equal(plain.closed, true, 'HTTP/1.0 without keep-alive: closed after the response');
  } finally {
    await h.close();
    await rec.up.close();
  }
});

test('a body nobody reads (a 404 to a POST) is discarded and the next request is served', async () => {
  const rec = await recorder();
  const h = await startHarness(mesh(rec.up.port, '/after'), { dst: DST });
  try {
    const big = 'z'.repeat(200_000);
    const bytes = `POST /none HTTP/1.1\r\nHost: web\r\nContent-Length: ${big.length}\r\n\r\n${big}GET /after HTTP/1.1\r\nHost: web\r\n\r\n`;
    const { parsed } = await converse(h, bytes, [], 2);
    assert.equal(parsed.error, undefined);
    assert.deepEqual(parsed.responses.map((r) => `${r.status} ${r.body.toString()}`), ['404 ', '200 GET /after 0']);
    assert.deepEqual(rec.seen.map((s) => s.url), ['/after']);
  } finally {
    await h.close();
    await rec.up.close();
  }
});

test('CONNECT is refused with 400 and never forwarded', async () => {
  const rec = await recorder();
  const h = await startHarness(mesh(rec.up.port), { dst: DST });
  const ev = captureHttpEvents();
  try {
    const { parsed, closed } = await converse(h, 'CONNECT web:443 HTTP/1.1\r\nHost: web:443\r\n\r\n', [], 1);
    assert.equal(parsed.responses[0]?.status, 400);
    assert.equal(closed, true);
    const e = await ev.next();
    assert.deepEqual([e.responseCode, e.responseFlags, e.responseCodeDetails], [400, 'DPE', 'http1.connect_not_supported']);
    assert.equal(rec.seen.length, 0);
  } finally {
    ev.stop();
    await h.close();
    await rec.up.close();
  }
});

test("the client's FIN during a response ends the request with flag DC", async () => {
  let release: (() => void) | undefined;
  const rec = await recorder((_req, res) => {
    release = () => res.end('late');
  });
  const h = await startHarness(mesh(rec.up.port), { dst: DST });
  const ev = captureHttpEvents();
  try {
    const { closed } = await converse(h, 'GET /slow HTTP/1.1\r\nHost: web\r\n\r\n', [], 1, { end: true });
    assert.equal(closed, true);
    const e = await ev.next();
    assert.deepEqual([e.responseFlags, e.responseCodeDetails], ['DC', 'downstream_remote_disconnect']);
    release?.();
  } finally {
    ev.stop();
    await h.close();
    await rec.up.close();
  }
});

test('after a last response: requests pipelined past it are not served, and a client that keeps its side open is closed (delayed close)', async () => {
  const rec = await recorder();
  const h = await startHarness(mesh(rec.up.port), { dst: DST });
  try {
    const socket = net.connect({ port: h.port, host: '127.0.0.1', allowHalfOpen: true });
    let got = '';
    let ended = false;
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.on('end', () => (ended = true)); // the proxy's FIN; this client keeps its own side open
    socket.on('error', () => undefined);
    socket.write('GET /1 HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: web\r\n\r\n');
    for (let i = 0; i < 300 && !ended; i++) await sleep(10);
    const finAt = Date.now();
    assert.equal(ended, true, 'the proxy closed its side after the response');
    assert.equal(got.match(/HTTP\/1\.1 200/g)?.length, 1, `one response: ${got}`);
    assert.deepEqual(rec.seen.map((s) => s.url), ['/1'], 'the request after the last response never went upstream');
    for (let i = 0; i < 400 && h.http.connectionCount > 0; i++) await sleep(10);
    assert.equal(h.http.connectionCount, 0, 'the half-open connection was released');
    const releasedAfter = Date.now() - finAt;
    assert.ok(releasedAfter >= 500, `released a while after the FIN, not at once (${releasedAfter} ms)`);
    socket.destroy();
  } finally {
    await h.close();
    await rec.up.close();
  }
});
