/**
 * The upstream HTTP/1.1 pool against real local sockets: raw servers send exact bytes for each edge case (chunked,
 * close-delimited, HEAD, 1xx, Connection: close, an idle close, malformed responses, a slow reader), and the test
 * checks what the handler saw, what went over the wire and the pool's connection counts.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { PlainConnector, UpstreamConnectError } from '../../../src/transport/connector';
import { systemClock } from '../../../src/upstream/clock';
import { ClusterStats } from '../../../src/upstream/cluster-stats';
import { UNLIMITED } from '../../../src/upstream/circuit-breaker';
import { Endpoint } from '../../../src/upstream/endpoint';
import { UpstreamResponseError, type ResponseHandler } from '../../../src/upstream/http1-connection';
import { Http1Pool, type HttpPoolSettings } from '../../../src/upstream/http1-pool';
import type { UpstreamRequest } from '../../../src/upstream/http1-request';

const HEAD_END = '\r\n\r\n';

/** A raw server: `answer` is called with the socket and everything received so far, on every chunk. */
interface RawServer {
  readonly port: number;
  readonly connections: net.Socket[];
  /** Bytes received per connection, latin1. */
  readonly received: string[];
  close(): Promise<void>;
}

async function rawServer(answer: (s: net.Socket, got: string, index: number) => void): Promise<RawServer> {
  const connections: net.Socket[] = [];
  const received: string[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const index = connections.length;
    connections.push(s);
    received.push('');
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      received[index] += d.toString('latin1');
      answer(s, received[index]!, index);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    received,
    close: () =>
      new Promise<void>((r) => {
        for (const s of connections) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Answers every complete request head on the connection (requests counted by their heads). */
function perRequest(respond: (s: net.Socket, n: number, head: string) => void): (s: net.Socket, got: string) => void {
  const answered = new WeakMap<net.Socket, number>();
  return (s, got) => {
    const heads = got.split(HEAD_END);
    const complete = heads.length - 1;
    for (let n = answered.get(s) ?? 0; n < complete; n++) {
      answered.set(s, n + 1);
      respond(s, n, heads[n]!);
    }
  };
}

function pool(port: number, over: Partial<HttpPoolSettings> = {}): { pool: Http1Pool; stats: ClusterStats; ep: Endpoint } {
  const ep = new Endpoint({ address: '127.0.0.1', port, labels: {}, weight: 1 });
  const stats = new ClusterStats();
  const settings = { maxConnections: UNLIMITED, idleTimeoutMs: 60_000, maxRequestsPerConnection: 0, ...over };
  const p = new Http1Pool(ep, { target: ep.address, timeoutMs: 1000 }, new PlainConnector(), stats, settings, systemClock);
  return { pool: p, stats, ep };
}

interface Outcome {
  status: number;
  headers: string[];
  body: Buffer;
  error: Error | undefined;
  /** Events in order, for tests that check the sequence. */
  events: string[];
}

interface Sent {
  readonly done: Promise<Outcome>;
  /** Body bytes delivered so far. */
  readonly received: number;
  readonly handler: ResponseHandler;
  abort(err?: Error): void;
  resume(): void;
}

/** Sends a request; `pauseOnData` makes onData answer false (the slow reader) until resume(). */
function send(p: Http1Pool, request: Partial<UpstreamRequest> = {}, opts: { pauseOnData?: boolean } = {}): Sent {
  const out: Outcome = { status: 0, headers: [], body: Buffer.alloc(0), error: undefined, events: [] };
  const chunks: Buffer[] = [];
  let received = 0;
  let abortFn: ((err?: Error) => void) | undefined;
  let resumeFn: (() => void) | undefined;
  let settle!: (o: Outcome) => void;
  const done = new Promise<Outcome>((r) => (settle = r));
  const handler: ResponseHandler = {
    onConnect(abort) {
      out.events.push('connect');
      abortFn = abort;
    },
    onHeaders(status, headers, resume) {
      out.events.push(`headers ${status}`);
      out.status = status;
      out.headers = headers;
      resumeFn = resume;
      return true;
    },
    onData(chunk) {
      chunks.push(chunk);
      received += chunk.length;
      return !opts.pauseOnData;
    },
    onComplete() {
      out.events.push('complete');
      out.body = Buffer.concat(chunks);
      settle(out);
    },
    onError(err) {
      out.events.push('error');
      out.error = err;
      out.body = Buffer.concat(chunks);
      settle(out);
    },
  };
  p.dispatch({ method: 'GET', path: '/', headers: ['Host', 'svc'], body: null, ...request }, handler);
  return {
    done,
    handler,
    abort: (err) => abortFn?.(err),
    resume: () => resumeFn?.(),
    get received() {
      return received;
    },
  };
}

const until = async (cond: () => boolean, what: string, ms = 2000): Promise<void> => {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('keep-alive: requests reuse one connection; the head is one string with host, connection and content-length', async () => {
  const srv = await rawServer(perRequest((s, n) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-N: ${n}\r\n\r\nok`)));
  const { pool: p, stats, ep } = pool(srv.port);
  try {
    const a = await send(p, { method: 'POST', path: '/a?x=1', headers: ['Host', 'svc', 'Content-Length', '5', 'X-Dup', '1', 'X-Dup', '2'], body: Buffer.from('hello') }).done;
    assert.equal(a.error, undefined);
    assert.equal(a.status, 200);
    assert.deepEqual(a.headers, ['Content-Length', '2', 'X-N', '0']);
    assert.equal(a.body.toString(), 'ok');
    const b = await send(p, { headers: [] }).done;
    assert.equal(b.body.toString(), 'ok');
    const c = await send(p, { method: 'PUT', body: null }).done;
    assert.deepEqual(c.headers.slice(2), ['X-N', '2']);
    assert.equal(srv.connections.length, 1, 'one connection carried all three');
    assert.equal(
      srv.received[0],
      'POST /a?x=1 HTTP/1.1\r\nHost: svc\r\nX-Dup: 1\r\nX-Dup: 2\r\nconnection: keep-alive\r\ncontent-length: 5\r\n\r\nhello' +
        `GET / HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\nconnection: keep-alive\r\n\r\n` +
        'PUT / HTTP/1.1\r\nHost: svc\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n',
    );
    assert.deepEqual([stats.upstream_cx_total, stats.upstream_cx_active, ep.stats.cx_total, ep.stats.cx_active], [1, 1, 1, 1]);
    assert.equal(p.idleCount, 1);
    await p.close();
    assert.deepEqual([stats.upstream_cx_active, ep.stats.cx_active, p.size], [0, 0, 0], 'close() closed the idle connection');
  } finally {
    await srv.close();
  }
});

test('chunked responses split byte by byte, and more headers than Node parses in one callback', async () => {
  const many = Array.from({ length: 40 }, (_, i) => `X-H${i}: v${i}\r\n`).join('');
  const response = `HTTP/1.1 200 OK\r\n${many}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n`;
  const srv = await rawServer(
    perRequest((s) => {
      const bytes = Buffer.from(response);
      let i = 0;
      const drip = (): void => {
        if (i < bytes.length && !s.destroyed) s.write(bytes.subarray(i, ++i), () => setImmediate(drip));
      };
      drip();
    }),
  );
  const { pool: p } = pool(srv.port);
  try {
    const r = await send(p).done;
    assert.equal(r.error, undefined);
    assert.equal(r.body.toString(), 'hello world');
    assert.equal(r.headers.length, 82, 'all 41 headers, in order');
    assert.deepEqual(r.headers.slice(0, 4), ['X-H0', 'v0', 'X-H1', 'v1']);
    assert.deepEqual(r.headers.slice(-2), ['Transfer-Encoding', 'chunked']);
    assert.equal((await send(p).done).body.toString(), 'hello world', 'the connection is reused after a chunked body');
    assert.equal(srv.connections.length, 1);
  } finally {
    await p.destroy();
    await srv.close();
  }
});

test('a read-until-close body ends at the FIN; HTTP/1.0 and Connection: close end reuse', async () => {
  const srv = await rawServer(
    perRequest((s, _n, head) => {
      if (head.startsWith('GET /eof')) s.end('HTTP/1.1 200 OK\r\n\r\nuntil the end');
      else if (head.startsWith('GET /http10')) s.write('HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n10');
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nclose');
    }),
  );
  const { pool: p, stats } = pool(srv.port);
  try {
    assert.equal((await send(p, { path: '/eof' }).done).body.toString(), 'until the end');
    assert.equal((await send(p, { path: '/http10' }).done).body.toString(), '10');
    assert.equal((await send(p, { path: '/close' }).done).body.toString(), 'close');
    await until(() => stats.upstream_cx_active === 0, 'the three connections to close');
    assert.equal(srv.connections.length, 3, 'none of the three connections was reused');
    assert.equal(p.size, 0);
  } finally {
    await srv.close();
  }
});

test('HEAD, 204 and 304 have no body whatever their headers say; 1xx interim responses are skipped; 101 fails', async () => {
  const srv = await rawServer(
    perRequest((s, _n, head) => {
      if (head.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
      else if (head.startsWith('GET /204')) s.write('HTTP/1.1 204 No Content\r\n\r\n');
      else if (head.startsWith('GET /304')) s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n');
      else if (head.startsWith('GET /1xx')) s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine');
      else s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
    }),
  );
  const { pool: p } = pool(srv.port);
  try {
    const head = await send(p, { method: 'HEAD' }).done;
    assert.deepEqual([head.status, head.body.length, head.error], [200, 0, undefined]);
    const r204 = await send(p, { path: '/204' }).done;
    assert.deepEqual([r204.status, r204.body.length], [204, 0]);
    const r304 = await send(p, { path: '/304' }).done;
    assert.deepEqual([r304.status, r304.body.length], [304, 0]);
    const r1xx = await send(p, { path: '/1xx' }).done;
    assert.deepEqual(r1xx.events, ['connect', 'headers 200', 'complete'], 'only the final response reaches the handler');
    assert.equal(r1xx.body.toString(), 'fine');
    const r101 = await send(p, { path: '/101' }).done;
    assert.ok(r101.error instanceof UpstreamResponseError, String(r101.error));
    assert.equal((r101.error as UpstreamResponseError).code, 'SIDELANE_ERR_UPSTREAM_PROTOCOL');
    assert.match(r101.error.message, /switched protocols \(101\)/);
    assert.deepEqual(r101.events, ['connect', 'error']);
    // The HEAD connection was not reused (a server may wrongly send a body); the others were, until the 101.
    assert.equal(srv.connections.length, 2);
    assert.ok(srv.received[0]!.includes('HEAD / HTTP/1.1\r\nHost: svc\r\nconnection: close\r\n'), srv.received[0]);
  } finally {
    await p.destroy();
    await srv.close();
  }
});

test('a keep-alive connection the server closes while idle is dropped; the next request opens another', async () => {
  const srv = await rawServer(perRequest((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', () => setTimeout(() => s.end(), 30))));
  const { pool: p, stats } = pool(srv.port);
  try {
    assert.equal((await send(p).done).body.toString(), 'ok');
    await until(() => p.idleCount === 0 && stats.upstream_cx_active === 0, 'the idle connection to be dropped');
    assert.equal((await send(p).done).body.toString(), 'ok');
    assert.equal(srv.connections.length, 2);
    assert.equal(stats.upstream_cx_total, 2);
  } finally {
    await p.destroy();
    await srv.close();
  }
});

test('malformed responses, bytes after a response, resets and closes mid-response are errors, never crashes', async () => {
  const srv = await rawServer(
    perRequest((s, _n, head) => {
      if (head.startsWith('GET /garbage')) s.write('HTTP/1.1 2OO OK\r\n\r\n');
      else if (head.startsWith('GET /badlen')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx');
      else if (head.startsWith('GET /extra')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      else if (head.startsWith('GET /short')) s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort');
      else if (head.startsWith('GET /reset')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab', () => s.resetAndDestroy());
      else if (head.startsWith('GET /before')) s.end();
    }),
  );
  const { pool: p, stats } = pool(srv.port);
  try {
    for (const path of ['/garbage', '/badlen']) {
      const r = await send(p, { path }).done;
      assert.ok(r.error instanceof UpstreamResponseError, `${path}: ${String(r.error)}`);
      assert.equal((r.error as UpstreamResponseError).code, 'SIDELANE_ERR_UPSTREAM_PROTOCOL', path);
      assert.match(r.error.message, /malformed upstream response \(HPE_/);
    }
    const extra = await send(p, { path: '/extra' }).done;
    assert.deepEqual([extra.error, extra.body.toString()], [undefined, 'ok'], 'the response itself was whole');
    for (const path of ['/short', '/reset', '/before']) {
      const r = await send(p, { path }).done;
      assert.ok(r.error instanceof UpstreamResponseError, `${path}: ${String(r.error)}`);
      assert.equal((r.error as UpstreamResponseError).code, 'SIDELANE_ERR_UPSTREAM_RESET', path);
    }
    await until(() => stats.upstream_cx_active === 0, 'every broken connection to close');
    assert.equal(srv.connections.length, 6, 'no broken connection was reused (the one after /extra neither)');
  } finally {
    await p.destroy();
    await srv.close();
  }
});

test('unsolicited bytes on an idle connection drop it', async () => {
  const srv = await rawServer(perRequest((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', () => setTimeout(() => s.write('HTTP/1.1 200 OK\r\n\r\n'), 30))));
  const { pool: p, stats } = pool(srv.port);
  try {
    assert.equal((await send(p).done).body.toString(), 'ok');
    await until(() => stats.upstream_cx_active === 0 && p.idleCount === 0, 'the confused connection to be dropped');
  } finally {
    await p.destroy();
    await srv.close();
  }
});

test('a slow reader: onData false pauses the socket (the server stalls) until resume()', async () => {
  const TOTAL = 8 << 20;
  let written = 0;
  const srv = await rawServer(
    perRequest((s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${TOTAL}\r\n\r\n`);
      const piece = Buffer.alloc(64 << 10, 0x61);
      const pump = (): void => {
        while (written < TOTAL) {
          written += piece.length;
          if (!s.write(piece)) {
            s.once('drain', pump);
            return;
          }
        }
      };
      pump();
    }),
  );
  const { pool: p } = pool(srv.port);
  try {
    const r = send(p, {}, { pauseOnData: true });
    await until(() => r.received > 0, "the first body bytes");
    await new Promise((res) => setTimeout(res, 300));
    const held = r.received;
    assert.ok(held < 1 << 20, `the paused reader got at most a socket read's worth (${held})`);
    assert.ok(written < TOTAL, `the server is stalled by backpressure (${written} of ${TOTAL} written)`);
    // Each resume() lets one more chunk through (the handler pauses again); the completion too waits for a resume().
    let settled = false;
    void r.done.then(() => (settled = true));
    while (!settled) {
      r.resume();
      await new Promise((res) => setImmediate(res));
    }
    const out = await r.done;
    assert.equal(out.error, undefined);
    assert.equal(out.body.length, TOTAL, 'every byte, in order, after resuming');
  } finally {
    await p.destroy();
    await srv.close();
  }
});

test('request bodies: a stream without length goes chunked, with a length as is; the stream is read with backpressure', async () => {
  const srv = await rawServer((s, got) => {
    if (got.endsWith('0\r\n\r\n') || /content-length: 6\r\n\r\nabcdef$/.test(got)) s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
  const { pool: p } = pool(srv.port);
  try {
    const body = new PassThrough();
    const r = send(p, { method: 'POST', headers: ['Host', 'svc', 'Transfer-Encoding', 'chunked'].slice(0, 2), body });
    body.write('abc');
    setTimeout(() => body.end('defgh'), 20);
    assert.equal((await r.done).error, undefined);
    assert.equal(srv.received[0], 'POST / HTTP/1.1\r\nHost: svc\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n');
    const sized = new PassThrough();
    const q = send(p, { method: 'POST', headers: ['Host', 'svc', 'content-length', '6'], body: sized });
    sized.end('abcdef');
    assert.equal((await q.done).error, undefined);
    assert.equal(srv.connections.length, 1, 'reused after both');
    assert.ok(srv.received[0]!.endsWith('POST / HTTP/1.1\r\nHost: svc\r\nconnection: keep-alive\r\ncontent-length: 6\r\n\r\nabcdef'));
  } finally {
    await p.destroy();
    await srv.close();
  }

  // Backpressure: a server that never reads makes the proxy stop reading the body stream.
  const deaf = net.createServer((s) => s.pause());
  await new Promise<void>((r) => deaf.listen(0, '127.0.0.1', r));
  const { pool: p2 } = pool((deaf.address() as net.AddressInfo).port);
  try {
    const body = new PassThrough({ highWaterMark: 16 << 10 });
    const r = send(p2, { method: 'POST', body });
    const chunk = Buffer.alloc(64 << 10);
    let pushed = 0;
    while (pushed < 64 << 20 && body.write(chunk)) pushed += chunk.length;
    for (let i = 0; i < 50 && pushed < 64 << 20; i++) {
      await new Promise((res) => setTimeout(res, 10));
      while (pushed < 64 << 20 && body.write(chunk)) pushed += chunk.length;
    }
    assert.ok(pushed < 32 << 20, `the body stream filled up instead of being read without bound (${pushed} bytes accepted)`);
    r.abort();
    const out = await r.done;
    assert.ok(out.error instanceof Error);
    assert.ok(body.destroyed, 'an aborted request destroys its body stream');
  } finally {
    await p2.destroy();
    deaf.close();
  }
});

test('max connections queues requests (pipelining 1); max requests per connection closes after the last', async () => {
  const srv = await rawServer(perRequest((s) => setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx'), 20)));
  const { pool: p } = pool(srv.port, { maxConnections: 1, maxRequestsPerConnection: 2 });
  try {
    const all = await Promise.all([send(p).done, send(p).done, send(p).done]);
    assert.deepEqual(
      all.map((o) => [o.error, o.body.toString()]),
      [
        [undefined, 'x'],
        [undefined, 'x'],
        [undefined, 'x'],
      ],
    );
    assert.equal(srv.connections.length, 2, 'two requests on the first connection, the third on a new one');
    assert.match(srv.received[0]!, /^GET \/ HTTP\/1\.1\r\nHost: svc\r\nconnection: keep-alive\r\n\r\nGET \/ HTTP\/1\.1\r\nHost: svc\r\nconnection: close\r\n\r\n$/);
  } finally {
    await p.destroy();
    await srv.close();
  }
});

test('idle timeout: the cluster idle timeout, or the Keep-Alive hint when shorter (less a 2 s margin)', async () => {
  const srv = await rawServer(
    perRequest((s, _n, head) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: 0\r\n${head.includes('/hint2') ? 'Keep-Alive: timeout=2, max=5\r\n' : head.includes('/hint3') ? 'keep-alive: timeout=3\r\n' : ''}\r\n`)),
  );
  const short = pool(srv.port, { idleTimeoutMs: 150 });
  const hinted = pool(srv.port, { idleTimeoutMs: 60_000 });
  try {
    let t0 = Date.now();
    await send(short.pool).done;
    await until(() => short.stats.upstream_cx_active === 0, 'the idle timeout', 2000);
    const took = Date.now() - t0;
    assert.ok(took >= 140, `closed at the idle timeout (${took} ms)`);
    t0 = Date.now();
    await send(hinted.pool, { path: '/hint2' }).done;
    // timeout=2 s less the 2 s margin leaves nothing: the connection is not kept at all.
    await until(() => hinted.stats.upstream_cx_active === 0, 'the hinted connection to close', 1000);
    assert.ok(Date.now() - t0 < 500, 'closed at once, not kept');
    t0 = Date.now();
    await send(hinted.pool, { path: '/hint3' }).done;
    assert.equal(hinted.pool.idleCount, 1);
    await until(() => hinted.stats.upstream_cx_active === 0, 'the hinted idle timeout', 3000);
    const hintedTook = Date.now() - t0;
    assert.ok(hintedTook >= 950 && hintedTook < 2500, `timeout=3 kept it idle ~1 s, not the cluster's 60 s (${hintedTook} ms)`);
  } finally {
    await short.pool.destroy();
    await hinted.pool.destroy();
    await srv.close();
  }
});

test('connect failures reach the handler as UpstreamConnectError and are counted; nothing connects for a withdrawn request', async () => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const { pool: p, stats, ep } = pool(port);
  const r = await send(p).done;
  assert.ok(r.error instanceof UpstreamConnectError, String(r.error));
  assert.equal((r.error as UpstreamConnectError).reason, 'ECONNREFUSED');
  assert.deepEqual([stats.upstream_cx_total, stats.upstream_cx_connect_fail, ep.stats.cx_connect_fail, stats.upstream_cx_active], [1, 1, 1, 0]);

  const srv = await rawServer(perRequest((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')));
  const { pool: q } = pool(srv.port, { maxConnections: 1 });
  try {
    const first = send(q);
    const second = send(q);
    assert.equal(q.withdraw(second.handler), true, 'a queued request can be withdrawn');
    assert.equal(q.withdraw(second.handler), false);
    assert.equal((await first.done).error, undefined);
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(srv.connections.length, 1);
    assert.equal(srv.received[0]!.split('GET /').length - 1, 1, 'the withdrawn request was never sent');
  } finally {
    await q.destroy();
    await srv.close();
  }
});

test('abort: in onConnect the connection stays usable; after writing it is destroyed; destroy() fails what is in flight', async () => {
  const srv = await rawServer(perRequest((s, _n, head) => head.includes('/hang') || s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')));
  const { pool: p, stats } = pool(srv.port);
  try {
    await send(p).done;
    let sawAbort: Error | undefined;
    p.dispatch(
      { method: 'GET', path: '/never', headers: [], body: null },
      {
        onConnect: (abort) => abort(new Error('changed my mind')),
        onHeaders: () => assert.fail('no headers for an aborted request'),
        onData: () => assert.fail('no data'),
        onComplete: () => assert.fail('no completion'),
        onError: (err) => (sawAbort = err),
      },
    );
    assert.equal(sawAbort?.message, 'changed my mind');
    assert.equal(p.idleCount, 1, 'the connection went back to the pool untouched');
    const hang = send(p, { path: '/hang' });
    await until(() => srv.received[0]!.includes('/hang'), 'the request to be written');
    hang.abort(new Error('route timeout'));
    assert.equal((await hang.done).error?.message, 'route timeout');
    await until(() => stats.upstream_cx_active === 0, 'the aborted connection to close');
    const inflight = send(p, { path: '/hang' });
    await until(() => srv.received.length === 2 && srv.received[1]!.includes('/hang'), 'the second request');
    await p.destroy();
    const out = await inflight.done;
    assert.ok(out.error instanceof UpstreamResponseError);
    assert.equal(stats.upstream_cx_active, 0);
    const late = await send(p).done;
    assert.match(String(late.error), /closed|destroyed/);
  } finally {
    await srv.close();
  }
});

test('a handler that throws fails its own request (the connection is dropped), never the process', async () => {
  const srv = await rawServer(perRequest((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')));
  const { pool: p, stats } = pool(srv.port);
  try {
    for (const where of ['headers', 'data'] as const) {
      const err = await new Promise<Error>((resolve) => {
        p.dispatch(
          { method: 'GET', path: '/', headers: [], body: null },
          {
            onConnect: () => undefined,
            onHeaders: () => {
              if (where === 'headers') throw new Error('bug in onHeaders');
              return true;
            },
            onData: () => {
              throw new Error('bug in onData');
            },
            onComplete: () => assert.fail('no completion after a throw'),
            onError: resolve,
          },
        );
      });
      assert.match(err.message, new RegExp(`response handler failed: Error: bug in on${where === 'headers' ? 'Headers' : 'Data'}`));
    }
    await until(() => stats.upstream_cx_active === 0, 'both connections to close');
    assert.equal((await send(p).done).body.toString(), 'ok', 'the pool still works');
  } finally {
    await p.destroy();
    await srv.close();
  }
});
