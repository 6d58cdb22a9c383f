import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import { addon } from '../../../src/native/addon';
import { UsageError } from '../../../src/errors';
import { NativeAcceptor, type AcceptedConnection, type NativeAcceptorOptions } from '../../../src/transport/native-acceptor';
import { readAll } from '../../support/sockets';
import { decodeProxyHeader, encodeProxyHeader } from '../../../src/transport/proxy-protocol';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A PROXY v2 header (PROXY command, TCP over IPv4) built by hand; decoding is the codec's job, not ours. */
function v2Header(bodyLength = 12, version = 2): Buffer {
  const fixed = Buffer.concat([SIGNATURE, Buffer.from([(version << 4) | 1, 0x11, bodyLength >> 8, bodyLength & 0xff])]);
  return Buffer.concat([fixed, Buffer.alloc(bodyLength, 0x42)]);
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function listener(family: 4 | 6 = 4): { fd: number; port: number; close(): void } {
  const fd = addon().listen({
    family,
    address: family === 4 ? '127.0.0.1' : '::1',
    port: 0,
    transparent: false,
    reusePort: false,
    v6Only: family === 6,
  });
  return { fd, port: addon().localAddress(fd).port, close: () => addon().closeFd(fd) };
}

async function connectAll(port: number, count: number, host = '127.0.0.1'): Promise<net.Socket[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const c = net.connect({ port, host, allowHalfOpen: true });
          c.once('connect', () => resolve(c));
          c.once('error', reject);
        }),
    ),
  );
}

/** Clients connect (and send `payloads`) while nobody accepts; then the acceptor takes them all. */
async function acceptQueued(
  payloads: (Buffer | 'end' | undefined)[],
  options: NativeAcceptorOptions,
): Promise<{ clients: net.Socket[]; accepted: Map<number, AcceptedConnection>; acceptor: NativeAcceptor; close(): void }> {
  const l = listener();
  const clients = await connectAll(l.port, payloads.length);
  payloads.forEach((p, i) => {
    if (p === 'end') clients[i]!.end();
    else if (p) clients[i]!.write(p);
  });
  await sleep(50); // the bytes land in the accepted sockets' receive queues
  const acceptor = new NativeAcceptor(l.fd, options);
  const accepted = new Map<number, AcceptedConnection>(); // by the client's port
  acceptor.on('connection', (c: AcceptedConnection) => accepted.set(c.remote.port, c));
  acceptor.start();
  await waitFor('all connections accepted', () => accepted.size === payloads.length);
  return {
    clients,
    accepted,
    acceptor,
    close: () => {
      acceptor.stop();
      l.close();
      for (const c of clients) c.destroy();
    },
  };
}

test('accepts in batches and reports fd, family and both addresses per connection', async () => {
  const l = listener();
  const clients = await connectAll(l.port, 50);
  const acceptor = new NativeAcceptor(l.fd, { batch: 16 });
  const got: AcceptedConnection[] = [];
  const batchSizes: number[] = [];
  acceptor.on('batch', (n: number) => batchSizes.push(n));
  acceptor.on('connection', (c: AcceptedConnection) => got.push(c));
  acceptor.start();
  await waitFor('50 connections', () => got.length === 50);
  assert.deepEqual(batchSizes, [16, 16, 16, 2], 'a queue of 50 is taken 16 at a time: one call into JS per batch');
  assert.equal(acceptor.stats().accepted, 50);
  const byPort = new Map(clients.map((c) => [c.localPort!, c]));
  for (const c of got) {
    assert.ok(c.fd > 2);
    assert.equal(c.family, 4);
    assert.deepEqual(c.local, { address: '127.0.0.1', port: l.port, family: 4 });
    assert.equal(c.remote.address, '127.0.0.1');
    assert.ok(byPort.has(c.remote.port), `remote port ${c.remote.port} is not one of the clients`);
    assert.equal(c.origDst, undefined);
    assert.equal(c.proxyHeader, undefined);
  }
  // The fds are real, connected, non-blocking sockets: a net.Socket adopts one and talks to its client.
  const first = got[0]!;
  const s = new net.Socket({ fd: first.fd, readable: true, writable: true });
  const client = byPort.get(first.remote.port)!;
  const echoed = readAll(client);
  s.end('from the accepted fd');
  assert.equal((await echoed).toString(), 'from the accepted fd');
  for (const c of got.slice(1)) addon().closeFd(c.fd);
  acceptor.stop();
  l.close();
  for (const c of clients) c.destroy();
});

test('IPv6: addresses and family 6', async () => {
  const l = listener(6);
  const [client] = await connectAll(l.port, 1, '::1');
  const acceptor = new NativeAcceptor(l.fd);
  const got = new Promise<AcceptedConnection>((r) => acceptor.once('connection', r));
  acceptor.start();
  const c = await got;
  assert.equal(c.family, 6);
  assert.deepEqual(c.local, { address: '::1', port: l.port, family: 6 });
  assert.deepEqual(c.remote, { address: '::1', port: client!.localPort, family: 6 });
  addon().closeFd(c.fd);
  acceptor.stop();
  l.close();
  client!.destroy();
});

test('originalDst asked on a connection that was not redirected: absent, not an error', async () => {
  const t = await acceptQueued([undefined], { originalDst: true });
  const c = [...t.accepted.values()][0]!;
  assert.equal(c.origDst, undefined);
  addon().closeFd(c.fd);
  t.close();
});

test('PROXY v2 framing: complete, pending, malformed, oversized and closed, consuming only complete headers', async () => {
  const header = v2Header(12);
  const cases: { name: string; send: Buffer | 'end' | undefined; status: string }[] = [
    { name: 'complete header + payload', send: Buffer.concat([header, Buffer.from('payload')]), status: 'complete' },
    { name: 'complete header alone', send: v2Header(0), status: 'complete' },
    { name: 'signature only partly there', send: SIGNATURE.subarray(0, 10), status: 'pending' },
    { name: 'fixed part, body partly there', send: header.subarray(0, 21), status: 'pending' },
    { name: 'nothing sent yet', send: undefined, status: 'pending' },
    { name: 'HTTP instead of a header', send: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), status: 'malformed' },
    { name: 'not even the signature prefix', send: Buffer.from([0x0d, 0x0a, 0x0d, 0x0b]), status: 'malformed' },
    { name: 'version 1 nibble', send: v2Header(12, 1), status: 'malformed' },
    { name: 'declares 4000 bytes', send: v2Header(4000), status: 'oversized' },
    { name: 'FIN before any header', send: 'end', status: 'closed' },
  ];
  const t = await acceptQueued(
    cases.map((c) => c.send),
    { proxyHeader: 'always', maxHeaderBytes: 2048 },
  );
  for (const [i, c] of cases.entries()) {
    const conn = t.accepted.get(t.clients[i]!.localPort!)!;
    assert.equal(conn.proxyHeader?.status, c.status, `${c.name}: expected ${c.status}, got ${conn.proxyHeader?.status}`);
  }
  // Complete: exactly the header's bytes were taken; the application's bytes are still in the socket.
  const complete = t.accepted.get(t.clients[0]!.localPort!)!;
  assert.ok(complete.proxyHeader?.status === 'complete' && complete.proxyHeader.bytes.equals(header));
  const emptyBody = t.accepted.get(t.clients[1]!.localPort!)!;
  assert.ok(emptyBody.proxyHeader?.status === 'complete' && emptyBody.proxyHeader.bytes.length === 16);
  const rest = new net.Socket({ fd: complete.fd, readable: true, writable: true });
  const restData = readAll(rest);
  t.clients[0]!.end();
  assert.equal((await restData).toString(), 'payload');
  // Pending: nothing consumed, so the JS fallback reads the whole header from the start.
  const pending = t.accepted.get(t.clients[3]!.localPort!)!;
  const all = new net.Socket({ fd: pending.fd, readable: true, writable: true });
  const allData = readAll(all);
  t.clients[3]!.end(header.subarray(21));
  assert.ok((await allData).equals(header));
  for (const [i] of cases.entries()) if (i !== 0 && i !== 3) addon().closeFd(t.accepted.get(t.clients[i]!.localPort!)!.fd);
  t.close();
});

test('a hook-style header framed natively decodes with the TypeScript codec (one codec, native only frames)', async () => {
  const header = encodeProxyHeader({
    command: 'PROXY',
    source: { address: '198.18.0.10', port: 41000 },
    destination: { address: '198.19.0.12', port: 9080 },
    caller: { pid: 4242, uid: 1000, comm: 'curl' },
    crc32c: true,
  });
  const t = await acceptQueued([Buffer.concat([header, Buffer.from('GET / HTTP/1.1\r\n')])], { proxyHeader: 'loopback' });
  const c = [...t.accepted.values()][0]!;
  assert.equal(c.proxyHeader?.status, 'complete');
  if (c.proxyHeader?.status !== 'complete') return;
  const decoded = decodeProxyHeader(c.proxyHeader.bytes);
  assert.equal(decoded.status, 'header', JSON.stringify(decoded));
  if (decoded.status !== 'header') return;
  assert.equal(decoded.rest.length, 0, 'native framing took exactly the header');
  assert.deepEqual(decoded.header.caller, { pid: 4242, uid: 1000, comm: 'curl' });
  assert.ok(decoded.header.endpoints.kind === 'inet' && decoded.header.endpoints.destination.address === '198.19.0.12');
  addon().closeFd(c.fd);
  t.close();
});

test('PROXY v2 framing modes: none never frames; loopback frames on a loopback local address', async () => {
  const none = await acceptQueued([v2Header()], { proxyHeader: 'none' });
  const n = [...none.accepted.values()][0]!;
  assert.equal(n.proxyHeader, undefined);
  addon().closeFd(n.fd);
  none.close();
  const loop = await acceptQueued([v2Header()], { proxyHeader: 'loopback' });
  const c = [...loop.accepted.values()][0]!;
  assert.equal(c.proxyHeader?.status, 'complete');
  addon().closeFd(c.fd);
  loop.close();
});

test('headerWaitMs: an incomplete header waits natively, then arrives complete, closed or timed out', async () => {
  const header = v2Header(12);
  const l = listener();
  const [late, never, quits, gone] = await connectAll(l.port, 4);
  const port = new Map([late, never, quits, gone].map((c) => [c!, c!.localPort!]));
  late!.write(header.subarray(0, 20));
  never!.write(header.subarray(0, 20));
  gone!.write(header.subarray(0, 5));
  await sleep(30);
  const acceptor = new NativeAcceptor(l.fd, { proxyHeader: 'always', headerWaitMs: 300 });
  const got = new Map<number, { conn: AcceptedConnection; at: number }>();
  acceptor.on('connection', (c: AcceptedConnection) => got.set(c.remote.port, { conn: c, at: Date.now() }));
  const started = Date.now();
  const cpu0 = process.cpuUsage();
  acceptor.start();
  await sleep(60);
  assert.equal(got.size, 0, 'incomplete headers are held back, not delivered as pending');
  late!.write(Buffer.concat([header.subarray(20), Buffer.from('app-bytes')]));
  quits!.end();
  gone!.destroy();
  await waitFor('all four delivered', () => got.size === 4);
  const cpu = process.cpuUsage(cpu0);
  const share = (cpu.user + cpu.system) / 1000 / (Date.now() - started);
  assert.ok(share < 0.5, `${(share * 100).toFixed(0)}% CPU while a partial header waited: the wait spins`);
  const l1 = got.get(port.get(late!)!)!;
  assert.equal(l1.conn.proxyHeader?.status, 'complete');
  assert.ok(l1.conn.proxyHeader?.status === 'complete' && l1.conn.proxyHeader.bytes.equals(header));
  assert.equal(got.get(port.get(quits!)!)!.conn.proxyHeader?.status, 'closed');
  assert.equal(got.get(port.get(gone!)!)!.conn.proxyHeader?.status, 'closed');
  const n = got.get(port.get(never!)!)!;
  assert.equal(n.conn.proxyHeader?.status, 'timeout');
  assert.ok(n.at - started >= 290, `timed out after ${n.at - started} ms; expected the 300 ms wait`);
  // The completed one still carries the application's bytes; the timed-out one kept its partial header.
  const rest = readAll(new net.Socket({ fd: l1.conn.fd, readable: true, writable: true }));
  late!.end();
  assert.equal((await rest).toString(), 'app-bytes');
  const partial = readAll(new net.Socket({ fd: n.conn.fd, readable: true, writable: true }));
  never!.end();
  assert.ok((await partial).equals(header.subarray(0, 20)));
  for (const c of [quits, gone]) addon().closeFd(got.get(port.get(c!)!)!.conn.fd);
  acceptor.stop();
  l.close();
});

test('stop() closes connections still waiting for their header', async () => {
  const l = listener();
  const [waiting] = await connectAll(l.port, 1);
  waiting!.write(SIGNATURE.subarray(0, 4));
  const acceptor = new NativeAcceptor(l.fd, { proxyHeader: 'always', headerWaitMs: 10_000 });
  let delivered = 0;
  acceptor.on('connection', () => (delivered += 1));
  acceptor.start();
  await waitFor('accepted', () => acceptor.stats().accepted === 1);
  const closed = new Promise<void>((r) => {
    waiting!.on('error', () => r());
    waiting!.on('end', () => r());
  });
  waiting!.resume();
  acceptor.stop();
  await closed;
  assert.equal(delivered, 0);
  l.close();
});

test('bad options are refused with a clear error; a non-listening fd with a typed one', () => {
  assert.throws(() => new NativeAcceptor(-1), UsageError);
  assert.throws(() => new NativeAcceptor(3, { batch: 0 }), /batch must be an integer 1..4096/);
  assert.throws(() => new NativeAcceptor(3, { maxHeaderBytes: 8 }), /maxHeaderBytes/);
  assert.throws(() => new NativeAcceptor(3, { proxyHeader: 'sometimes' as never }), /proxyHeader/);
  assert.throws(() => new NativeAcceptor(3, { headerWaitMs: -5 }), /headerWaitMs/);
  const sock = addon().listen({ family: 4, address: '127.0.0.1', port: 0, transparent: false, reusePort: false });
  addon().closeFd(sock);
  assert.throws(() => new NativeAcceptor(sock).start(), /EBADF|not a listening socket/);
});

// ---- file-descriptor exhaustion (issue 10), for real: a child process under a low RLIMIT_NOFILE ----------------

interface ChildEvent {
  event: string;
  [k: string]: unknown;
}

function startChild(limit: number): { child: ChildProcess; events: ChildEvent[]; next(event: string): Promise<ChildEvent>; send(cmd: string): void } {
  const script = path.join(__dirname, '../../support/native-child.js');
  const child = spawn('sh', ['-c', `ulimit -n ${limit} && exec "${process.execPath}" "${script}" emfile`], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events: ChildEvent[] = [];
  const waiters: { event: string; resolve: (e: ChildEvent) => void; from: number }[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    const e = JSON.parse(line) as ChildEvent;
    events.push(e);
    for (const w of [...waiters]) {
      if (w.event === e.event) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  return {
    child,
    events,
    next: (event) => new Promise((resolve) => waiters.push({ event, resolve, from: events.length })),
    send: (cmd) => child.stdin!.write(`${cmd}\n`),
  };
}

type Outcome = 'open' | 'reset' | 'closed' | 'pending';

function attempt(port: number): { socket: net.Socket; outcome: Promise<Outcome> } {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const outcome = new Promise<Outcome>((resolve) => {
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNRESET' ? 'reset' : 'closed'));
    socket.once('end', () => resolve('closed'));
    socket.once('connect', () => {
      // An accepted connection echoes; a refused one is reset.
      socket.write('ping');
      socket.once('data', () => resolve('open'));
    });
    setTimeout(() => resolve('pending'), 3000);
  });
  return { socket, outcome };
}

test('fd exhaustion: refuses cleanly, keeps serving, reports once per interval, does not spin, recovers', { timeout: 60_000 }, async () => {
  const c = startChild(40);
  try {
    const ready = await c.next('ready');
    const port = ready.port as number;
    // 1. Fill the table: every connection the child can hold is accepted and echoes; the rest are refused (RST)
    // promptly — not left hanging in the SYN/accept queue.
    const first = Array.from({ length: 40 }, () => attempt(port));
    const outcomes = await Promise.all(first.map((a) => a.outcome));
    const open = outcomes.filter((o) => o === 'open').length;
    const reset = outcomes.filter((o) => o === 'reset').length;
    assert.ok(open >= 5, `only ${open} connections were accepted before the limit`);
    assert.ok(reset >= 5, `expected refusals at the fd limit, outcomes: ${outcomes.join(',')}`);
    assert.equal(open + reset, 40, `every attempt must be answered (accepted or reset): ${outcomes.join(',')}`);

    // 2. Under exhaustion: existing connections keep working, new ones keep being refused, the child does not
    // spin and reports at most once per 500 ms interval.
    c.send('cpu');
    const cpu0 = await c.next('cpu');
    const reportsBefore = c.events.filter((e) => e.event === 'exhausted').length;
    const windowStart = Date.now();
    const survivors = first.filter((_, i) => outcomes[i] === 'open');
    let refusedInWindow = 0;
    while (Date.now() - windowStart < 1500) {
      const a = attempt(port);
      if ((await a.outcome) === 'reset') refusedInWindow += 1;
      a.socket.destroy();
      const s = survivors[refusedInWindow % survivors.length]!.socket;
      const echo = new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString())));
      s.write('still-here');
      assert.equal(await echo, 'still-here', 'an established connection stopped working under fd exhaustion');
      await sleep(20);
    }
    c.send('cpu');
    const cpu1 = await c.next('cpu');
    const wall = (cpu1.at as number) - (cpu0.at as number);
    const cpuShare = ((cpu1.micros as number) - (cpu0.micros as number)) / 1000 / wall;
    assert.ok(refusedInWindow >= 10, `only ${refusedInWindow} attempts were refused during exhaustion`);
    assert.ok(cpuShare < 0.4, `the child used ${(cpuShare * 100).toFixed(0)}% of a core while exhausted (spinning?)`);
    const reports = c.events.filter((e) => e.event === 'exhausted').slice(reportsBefore);
    assert.ok(reports.length >= 2, `expected exhaustion reports, got ${reports.length}`);
    assert.ok(reports.length <= Math.ceil((Date.now() - windowStart) / 500) + 1, `${reports.length} reports in ${Date.now() - windowStart} ms: more than one per interval`);
    const info = reports[0]!.info as { refused: number; code: string; refusedTotal: number };
    assert.equal(info.code, 'EMFILE');
    assert.ok(info.refused >= 1 && info.refusedTotal >= info.refused);

    // 3. Recovery: once fds are free again, new connections are accepted.
    c.send('release');
    await c.next('released');
    await sleep(150); // > back-off
    const after = attempt(port);
    assert.equal(await after.outcome, 'open', 'no recovery after fds were freed');
    after.socket.destroy();
    c.send('stats');
    const stats = (await c.next('stats')).stats as { refused: number; exhaustions: number; reserveFd: boolean };
    assert.ok(stats.refused >= reset + refusedInWindow - 2, `stats.refused ${stats.refused}`);
    assert.equal(stats.reserveFd, true, 'the reserve fd was taken back');
    for (const a of first) a.socket.destroy();
    assert.equal(c.child.exitCode, null, 'the child died');
  } finally {
    c.child.kill();
  }
});

test('shutdown(): connections waiting in the queue are accepted and emitted, then the port refuses; stop() afterwards leaves a socket that reused the fd number alone', async () => {
  const l = listener();
  const acceptor = new NativeAcceptor(l.fd, { proxyHeader: 'loopback', headerWaitMs: 2000 });
  const got: AcceptedConnection[] = [];
  acceptor.on('connection', (c: AcceptedConnection) => got.push(c));
  acceptor.start();
  const server = net.createServer((s) => s.end('still here'));
  // net.connect() connects on the next tick and loopback handshakes complete inside connect(): after one more tick
  // all five wait in the kernel's accept queue, none accepted yet (their headers follow once Node sees them connected).
  const clients = Array.from({ length: 5 }, () => {
    const c = net.connect({ port: l.port, host: '127.0.0.1' });
    c.on('error', () => undefined);
    c.write(encodeProxyHeader({ command: 'PROXY', source: { address: '127.0.0.1', port: 1 }, destination: { address: '127.0.0.1', port: 2 } }));
    return c;
  });
  try {
    await new Promise((r) => process.nextTick(r));
    assert.equal(got.length, 0);
    assert.equal(acceptor.shutdown(), 5, 'the whole queue was accepted');
    assert.equal(acceptor.shutdown(), 0, 'a second shutdown is a no-op');
    assert.equal(acceptor.stats().listening, false);
    // The headers arrive after the accept: each connection waits natively, then comes out complete.
    await waitFor('five connections with their headers', () => got.length === 5);
    assert.deepEqual(got.map((c) => c.proxyHeader?.status), ['complete', 'complete', 'complete', 'complete', 'complete']);
    const refused = await new Promise<string | undefined>((resolve) => {
      const c = net.connect({ port: l.port, host: '127.0.0.1' });
      c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code));
      c.once('connect', () => {
        c.destroy();
        resolve('connected');
      });
    });
    assert.equal(refused, 'ECONNREFUSED', 'the port is closed after the shutdown');
    // The listening fd is closed: the next socket may well get its number. Stopping the acceptor must not touch it.
    // Hold every lower free number (connections closed meanwhile may have freed some) so the new socket gets it.
    const held: number[] = [];
    for (;;) {
      const fd = openSync('/dev/null', 'r');
      if (fd >= l.fd) {
        closeSync(fd);
        break;
      }
      held.push(fd);
    }
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    for (const fd of held) closeSync(fd);
    assert.equal((server as unknown as { _handle: { fd: number } })._handle.fd, l.fd, 'the new server got the closed listener\'s fd number');
    acceptor.stop();
    const reply = await new Promise<string>((resolve, reject) => {
      const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      let data = '';
      const timer = setTimeout(() => {
        c.destroy();
        reject(new Error('the other server stopped answering'));
      }, 3000);
      c.on('data', (d) => (data += d.toString()));
      c.on('end', () => {
        clearTimeout(timer);
        resolve(data);
      });
      c.on('error', reject);
    });
    assert.equal(reply, 'still here');
  } finally {
    acceptor.stop();
    server.close();
    for (const c of clients) c.destroy();
    for (const c of got) addon().closeFd(c.fd);
  }
});
