import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NativeRelay } from '../../../src/transport/native-relay';
import { NativeAcceptor } from '../../../src/transport/native-acceptor';
import { addon } from '../../../src/native/addon';
import { UsageError, SystemError } from '../../../src/errors';
import { once, readAll } from '../../support/sockets';
import { nativeForwarder, nativeTopology, openFds } from '../../support/native-forwarder';
import { countClientSegments } from '../../support/tcp-segments';
import { assertUrgentDataDoesNotStall } from '../../support/urgent-data';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const nextData = (s: net.Socket): Promise<Buffer> => new Promise((resolve) => s.once('data', resolve));

// Everything the JavaScript relay's tests check (test/unit/transport/relay.test.ts), for every native path: the
// default (copy small transfers, splice a direction once it proves bulk), splice from the first byte, and the
// read/write fallback.
for (const mode of ['adaptive', 'splice', 'copy'] as const) {
  describe(`native relay (${mode})`, () => {
    let relay: NativeRelay;
    before(() => {
      relay = new NativeRelay({ copyMode: mode === 'copy', spliceAlways: mode === 'splice' });
    });
    after(() => relay.close());

    test('relays tens of MB both ways at once, intact (sha256), and counts them', { timeout: 60_000 }, async () => {
      const splicedBefore = relay.stats().splicedDirections;
      const t = await nativeTopology(relay);
      const up = randomBytes(24 * 1024 * 1024);
      const down = randomBytes(16 * 1024 * 1024);
      const serverGot = readAll(t.server);
      const clientGot = readAll(t.client);
      t.client.end(up);
      t.server.end(down);
      assert.equal(sha(await serverGot), sha(up), 'bytes that reached the server differ from what the client sent');
      assert.equal(sha(await clientGot), sha(down), 'bytes that reached the client differ from what the server sent');
      const r = await t.session.result;
      assert.equal(r.bytesUp, up.length);
      assert.equal(r.bytesDown, down.length);
      assert.equal(r.end, 'closed');
      assert.ok(r.durationMs > 0);
      const s = relay.stats();
      assert.equal(s.pipesInUse, 0, 'no pipe stays attached after the relay ended');
      assert.equal(s.buffersInUse, 0, 'no copy buffer stays attached after the relay ended');
      if (mode === 'copy') assert.equal(s.pipesPooled, 0, 'copy mode never creates pipes');
      const switched = s.splicedDirections - splicedBefore;
      // Both directions of this relay switch to splice by default; spliceAlways starts there, copy mode never does.
      assert.equal(switched, mode === 'adaptive' ? 2 : 0, `${switched} directions switched from copy to splice`);
      t.close();
    });

    test('urgent (out-of-band) data does not hold back the bytes behind it', { timeout: 30_000 }, async () => {
      await assertUrgentDataDoesNotStall((upstreamPort) => nativeForwarder(relay, upstreamPort));
    });

    test('half-close: the client shuts its write side and still receives the full response', async () => {
      const t = await nativeTopology(relay);
      const got = readAll(t.server);
      t.client.end('request');
      assert.equal((await got).toString(), 'request');
      // The server answers after the client's FIN arrived — only possible if FIN was forwarded, not a close.
      const response = randomBytes(512 * 1024);
      const clientGot = readAll(t.client);
      t.server.end(response);
      assert.ok((await clientGot).equals(response));
      const r = await t.session.result;
      assert.equal(r.end, 'closed');
      assert.equal(r.bytesUp, 'request'.length);
      assert.equal(r.bytesDown, response.length);
      t.close();
    });

    test('half-close: the server shuts first and the client can still send', async () => {
      const t = await nativeTopology(relay);
      const clientGot = readAll(t.client);
      t.server.end('bye');
      assert.equal((await clientGot).toString(), 'bye');
      const serverGot = readAll(t.server);
      const late = randomBytes(256 * 1024);
      t.client.end(late);
      assert.ok((await serverGot).equals(late));
      assert.equal((await t.session.result).end, 'closed');
      t.close();
    });

    test('a reset from the server arrives as a reset at the client', async () => {
      const t = await nativeTopology(relay);
      t.client.write('x');
      await once(t.server, 'data');
      const err = once<NodeJS.ErrnoException>(t.client, 'error');
      t.server.resetAndDestroy();
      assert.equal((await err).code, 'ECONNRESET');
      assert.equal((await t.session.result).end, 'upstream_reset');
      t.close();
    });

    test('a reset from the client arrives as a reset at the server', async () => {
      const t = await nativeTopology(relay);
      t.client.write('x');
      await once(t.server, 'data');
      const err = once<NodeJS.ErrnoException>(t.server, 'error');
      t.client.resetAndDestroy();
      assert.equal((await err).code, 'ECONNRESET');
      assert.equal((await t.session.result).end, 'downstream_reset');
      t.close();
    });

    test('backpressure: a server that does not read stops the relay from reading; nothing is lost', { timeout: 30_000 }, async () => {
      const t = await nativeTopology(relay);
      t.server.pause(); // the server never reads (for now)
      const chunk = randomBytes(64 * 1024);
      let written = 0;
      const hash = createHash('sha256');
      // Write until the client stays blocked: the kernel path (socket buffers on both hops plus one pipe, or one
      // 16 KiB buffer in copy mode, inside the relay) is full and the relay has stopped reading.
      for (;;) {
        while (t.client.write(chunk)) {
          hash.update(chunk);
          written += chunk.length;
        }
        hash.update(chunk);
        written += chunk.length;
        const drained = await Promise.race([once(t.client, 'drain').then(() => true), sleep(400).then(() => false)]);
        if (!drained) break;
        assert.ok(written < 256 * 1024 * 1024, 'the client was never blocked: the relay buffers without bound');
      }
      const stuck = t.client.writableLength;
      assert.ok(stuck > 0, 'the client should be blocked by backpressure (its writes queue in user space)');
      const inKernel = written - stuck;
      assert.ok(inKernel < 48 * 1024 * 1024, `${inKernel} bytes left the client; expected the path to be bounded`);
      const s = relay.stats();
      if (mode === 'splice') assert.ok(s.pipesInUse <= 1, `pipes in use ${s.pipesInUse}; expected at most the one full pipe`);
      assert.ok(s.buffersInUse <= 1, `copy buffers in use ${s.buffersInUse}; expected at most one`);
      // The relay is stalled, not broken: once the server reads, every byte arrives in order.
      const serverGot = new Promise<string>((resolve) => {
        const h = createHash('sha256');
        t.server.on('data', (d: Buffer) => h.update(d));
        t.server.once('end', () => resolve(h.digest('hex')));
      });
      t.server.resume();
      t.client.end();
      assert.equal(await serverGot, hash.digest('hex'));
      t.server.end();
      const r = await t.session.result;
      assert.equal(r.bytesUp, written);
      assert.equal(r.end, 'closed');
      t.close();
    });

    test('idle timeout closes both sides; traffic keeps a relay alive', async () => {
      const t = await nativeTopology(relay, { request: { idleTimeoutMs: 150 } });
      let endedAt = 0;
      void t.session.result.then(() => (endedAt = Date.now()));
      t.server.on('data', () => undefined);
      // 400 ms of traffic every 40 ms: never idle for 150 ms.
      const started = Date.now();
      let lastWrite = started;
      while (Date.now() - started < 400) {
        t.client.write('tick');
        lastWrite = Date.now();
        await sleep(40);
      }
      assert.equal(endedAt, 0, 'the relay timed out although bytes kept moving');
      const clientClosed = once(t.client, 'end'); // FIN: the relay closed its side
      const serverClosed = once(t.server, 'end');
      t.client.on('error', () => undefined);
      t.server.on('error', () => undefined);
      t.client.resume();
      const r = await t.session.result;
      assert.equal(r.end, 'idle_timeout');
      const idleFor = endedAt - lastWrite;
      assert.ok(idleFor >= 150 - 10, `timed out ${idleFor} ms after the last byte; expected at least 150`);
      assert.ok(idleFor < 150 + 1000, `timed out ${idleFor} ms after the last byte; the idle sweep is late`);
      await Promise.all([clientClosed, serverClosed]);
      t.close();
    });

    test('abort(id) resets both sides and reports aborted', async () => {
      const t = await nativeTopology(relay);
      t.client.write('x');
      await once(t.server, 'data');
      const clientErr = once<NodeJS.ErrnoException>(t.client, 'error');
      const serverErr = once<NodeJS.ErrnoException>(t.server, 'error');
      assert.equal(relay.abort(t.session.id), true);
      assert.equal((await clientErr).code, 'ECONNRESET');
      assert.equal((await serverErr).code, 'ECONNRESET');
      const r = await t.session.result;
      assert.equal(r.end, 'aborted');
      assert.equal(r.bytesUp, 1);
      assert.equal(relay.abort(t.session.id), false, 'a finished relay cannot be aborted');
      t.close();
    });
  });
}

describe('native relay engine', () => {
  let relay: NativeRelay;
  before(() => {
    relay = new NativeRelay({ threads: 2 });
  });
  after(() => relay.close());

  test('initial bytes (read past a PROXY header) go upstream first and are counted', async () => {
    const t = await nativeTopology(relay, { request: { initialUp: Buffer.from('first;') } });
    const got = readAll(t.server);
    t.client.end('second');
    assert.equal((await got).toString(), 'first;second');
    t.server.end();
    const r = await t.session.result;
    assert.equal(r.bytesUp, 'first;second'.length);
    t.close();
  });

  test('bytes and FIN that arrive together leave together: one segment to the client, not two', async () => {
    // The upstream answers with 1000 bytes and its FIN in one segment; the relay has seen the FIN (EPOLLRDHUP) when
    // it reads, so it reads to the end first and splices the bytes with SPLICE_F_MORE right before shutdown(): the
    // client receives SYN-ACK + one data/FIN segment. Without that, the bytes and the FIN are 2 segments (3 in all).
    const forwarders: { close(): void }[] = [];
    const got = await countClientSegments(1000, async (upstreamPort) => {
      const fwd = await nativeForwarder(relay, upstreamPort);
      forwarders.push(fwd);
      return fwd.port;
    });
    for (const f of forwarders) f.close();
    assert.equal(got.bytes, 1000);
    assert.equal(got.segsIn, 2, `the client received ${got.segsIn} segments (SYN-ACK, then bytes and FIN in one expected)`);
  });

  test('small exchanges are copied (no pipe); a direction whose read fills the 16 KiB buffer switches to splice', { timeout: 30_000 }, async () => {
    const before = relay.stats();
    const t = await nativeTopology(relay);
    // Request/response pairs of a few hundred bytes: copied both ways, no pipe taken, nothing switched.
    for (let i = 0; i < 20; i++) {
      const req = nextData(t.server);
      t.client.write(Buffer.alloc(300, 0x61 + (i % 26)));
      assert.equal((await req).length, 300);
      const res = nextData(t.client);
      t.server.write(Buffer.alloc(500, 0x41 + (i % 26)));
      assert.equal((await res).length, 500);
    }
    let s = relay.stats();
    assert.equal(s.splicedDirections, before.splicedDirections, 'a 300- or 500-byte exchange switched a direction to splice');
    assert.equal(s.pipesInUse, 0, 'a pipe is attached although only small exchanges ran');
    // Then a bulk download: the upstream -> downstream direction switches, the bytes stay intact and in order.
    const big = randomBytes(4 * 1024 * 1024);
    const got = readAll(t.client);
    t.server.end(big);
    t.client.end();
    assert.equal(sha(await got), sha(big));
    const r = await t.session.result;
    assert.equal(r.bytesDown, 20 * 500 + big.length);
    s = relay.stats();
    assert.equal(s.splicedDirections, before.splicedDirections + 1, 'exactly the bulk direction switched to splice');
    assert.equal(s.buffersInUse, 0);
    assert.equal(s.pipesInUse, 0);
    t.close();
  });

  test('a bulk transfer grows its pipe, and gives it back at the base size when it pauses or ends', { timeout: 30_000 }, async () => {
    const grownBefore = relay.stats().pipesGrown;
    const t = await nativeTopology(relay);
    const first = randomBytes(8 * 1024 * 1024);
    let received = 0;
    const hash = createHash('sha256');
    t.server.on('data', (d: Buffer) => {
      received += d.length;
      hash.update(d);
    });
    t.client.write(first); // no FIN: the transfer pauses once these bytes are through
    await waitFor('8 MiB through the relay', () => received === first.length, 20_000);
    assert.ok(relay.stats().pipesGrown > grownBefore, 'a source that kept filling its 64 KiB pipe did not get a larger one');
    await waitFor('the grown pipe given back once the source is drained', () => relay.stats().bulkPipesInUse === 0);
    // A small exchange afterwards: nothing grows, and the bytes are intact.
    const grownAfterBulk = relay.stats().pipesGrown;
    const ended = new Promise<void>((r) => t.server.once('end', r));
    t.client.end('tail');
    await ended;
    t.server.end();
    const r = await t.session.result;
    assert.equal(r.bytesUp, first.length + 4);
    assert.equal(hash.digest('hex'), sha(Buffer.concat([first, Buffer.from('tail')])));
    assert.equal(relay.stats().pipesGrown, grownAfterBulk, 'a 4-byte write grew a pipe');
    const s = relay.stats();
    assert.equal(s.bulkPipesInUse, 0);
    assert.equal(s.pipesInUse, 0);
    t.close();
  });

  test('pooled pipes carry no byte from one connection into the next, also after resets with bytes in flight', { timeout: 60_000 }, async () => {
    for (let round = 0; round < 12; round++) {
      const t = await nativeTopology(relay);
      t.client.on('error', () => undefined);
      t.server.on('error', () => undefined);
      if (round % 3 === 1) {
        // Bytes stuck inside the relay (the server does not read) when the client resets: that pipe is closed, not
        // pooled; the next connection must not see any of these bytes.
        // (more than both hops' socket buffers hold, so the relay's pipe fills and stays full).
        t.server.pause();
        const junk = Buffer.alloc(64 * 1024 * 1024, 0x6a);
        t.client.write(junk);
        await waitFor('bytes in flight inside the relay', () => relay.stats().pipesInUse > 0 && t.client.writableLength > 0, 10_000);
        await sleep(50);
        t.client.resetAndDestroy();
        assert.equal((await t.session.result).end, 'downstream_reset');
        t.server.destroy();
      } else {
        const up = randomBytes(1 + ((round * 48_271) % (512 * 1024)));
        const down = randomBytes(1 + ((round * 69_621) % (512 * 1024)));
        const serverGot = readAll(t.server);
        const clientGot = readAll(t.client);
        t.client.end(up);
        assert.equal(sha(await serverGot), sha(up), `round ${round}: the server got other bytes than its client sent`);
        t.server.end(down);
        assert.equal(sha(await clientGot), sha(down), `round ${round}: the client got other bytes than its server sent`);
        const r = await t.session.result;
        assert.deepEqual([r.end, r.bytesUp, r.bytesDown], ['closed', up.length, down.length]);
      }
      t.close();
    }
    assert.ok(relay.stats().pipesPooled > 0, 'no pipe was pooled: the test did not exercise reuse');
  });

  test('IPv6 loopback', async () => {
    const t = await nativeTopology(relay, { family: 6 });
    const payload = randomBytes(1024 * 1024);
    const got = readAll(t.server);
    t.client.end(payload);
    assert.equal(sha(await got), sha(payload));
    t.server.end();
    assert.equal((await t.session.result).end, 'closed');
    t.close();
  });

  test('completions reach JavaScript in batches, not one call per connection', { timeout: 30_000 }, async () => {
    const count = 200;
    const servers: net.Socket[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => undefined);
      servers.push(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const fwd = await nativeForwarder(relay, (server.address() as net.AddressInfo).port);
    const clients: net.Socket[] = [];
    for (let i = 0; i < count; i++) {
      const c = net.connect({ port: fwd.port, host: '127.0.0.1' });
      c.on('error', () => undefined);
      clients.push(c);
    }
    const sessions = await Promise.all(clients.map(() => fwd.next()));
    await waitFor('every upstream accepted', () => servers.length === count);
    const before = relay.stats().batches;
    // All upstreams reset in one JS turn: the threads finish them while JS is busy; JS then drains the queue.
    for (const s of servers) s.resetAndDestroy();
    const results = await Promise.all(sessions.map((s) => s.result));
    assert.ok(results.every((r) => r.end === 'upstream_reset'));
    const batches = relay.stats().batches - before;
    assert.ok(batches <= count / 10, `${count} completions took ${batches} calls into JavaScript`);
    for (const c of clients) c.destroy();
    fwd.close();
    server.close();
  });

  test('no fd leak: fds before = after (pooled pipes aside), and close() releases the pool', { timeout: 30_000 }, async () => {
    const pooledFds = (): number => 2 * relay.stats().pipesPooled;
    await sleep(50);
    const baseline = openFds() - pooledFds();
    for (let round = 0; round < 5; round++) {
      const ts = await Promise.all(Array.from({ length: 10 }, () => nativeTopology(relay)));
      await Promise.all(
        ts.map(async (t, i) => {
          const payload = randomBytes(64 * 1024 * (i + 1));
          const got = readAll(t.server);
          const back = readAll(t.client);
          t.client.end(payload);
          assert.equal(sha(await got), sha(payload));
          if (i % 3 === 0) t.server.resetAndDestroy();
          else t.server.end(payload);
          if (i % 3 !== 0) assert.equal(sha(await back), sha(payload));
          else await back.catch(() => undefined);
          await t.session.result;
          t.client.destroy();
          t.close();
        }),
      );
    }
    await sleep(100);
    assert.equal(openFds() - pooledFds(), baseline, 'open fds (excluding pooled pipes) changed');
    assert.equal(relay.stats().active, 0);
    assert.equal(relay.stats().pipesInUse, 0);
  });

  test('relays that end at once (both peers already gone) still report under the id start() returned', { timeout: 60_000 }, async () => {
    // Such a relay can be finished and freed by its thread before relayAdd() returns; the id must not be read from it
    // then (it came back as freed memory: the completion arrived under the real id, JS waited forever — found by the
    // load soak). Thousands of them, started back to back, make that window likely.
    const lfd = addon().listen({ family: 4, address: '127.0.0.1', port: 0, transparent: false, reusePort: false });
    const port = addon().localAddress(lfd).port;
    const accepted: number[] = [];
    const acceptor = new NativeAcceptor(lfd, { batch: 256 });
    acceptor.on('connection', (c: { fd: number }) => accepted.push(c.fd));
    acceptor.start();
    let done = 0;
    let wrong = 0;
    const started: number[] = [];
    try {
      for (let round = 0; round < 6; round++) {
        const clients = Array.from({ length: 1000 }, () => {
          const c = net.connect({ port, host: '127.0.0.1' });
          c.on('error', () => undefined);
          return c;
        });
        await waitFor('every connection accepted', () => accepted.length === clients.length, 20_000);
        for (const c of clients) c.destroy();
        await sleep(50);
        const fds = accepted.splice(0);
        for (let i = 0; i + 1 < fds.length; i += 2) {
          const mine = { id: -1 };
          mine.id = relay.start(fds[i]!, fds[i + 1]!, {}, mine, (_r, ctx) => {
            done += 1;
            if (ctx.id !== mine.id) wrong += 1;
          });
          started.push(mine.id);
        }
      }
      await waitFor(`all ${started.length} completions (got ${done})`, () => done === started.length, 20_000);
      assert.equal(wrong, 0);
      assert.equal(new Set(started).size, started.length, 'every relay got its own id');
      assert.ok(started.every((id, i) => Number.isSafeInteger(id) && id > (i === 0 ? 0 : started[i - 1]!)), 'ids are the engine\'s own, in order');
      assert.equal(relay.active, 0);
    } finally {
      acceptor.stop();
      addon().closeFd(lfd);
    }
  });

  test('bad arguments are refused before crossing into C++, unusable fds with a typed error', () => {
    assert.throws(() => relay.start(-1, 5, {}, null, () => undefined), UsageError);
    assert.throws(() => relay.start(7, 7, {}, null, () => undefined), /must differ/);
    assert.throws(() => relay.start(1.5, 5, {}, null, () => undefined), UsageError);
    assert.throws(() => relay.start(3, 4, { idleTimeoutMs: -1 }, null, () => undefined), /idleTimeoutMs/);
    assert.throws(() => new NativeRelay({ threads: 0 }), /threads/);
    assert.throws(() => new NativeRelay(), /already running/);
    // An fd number that is not open: EBADF, and the caller still owns (nothing).
    assert.throws(
      () => relay.start(900_001, 900_002, {}, null, () => undefined),
      (err: unknown) => err instanceof SystemError && err.errnoName === 'EBADF',
    );
    assert.equal(relay.stats().active, 0);
  });
});

describe('native relay lifecycle (child processes)', () => {
  const child = path.join(__dirname, '../../support/native-child.js');
  const run = (mode: string): Promise<{ code: number | null; signal: string | null; out: string }> =>
    new Promise((resolve) => {
      const p = spawn(process.execPath, [child, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
      p.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, out });
      });
    });

  test('an idle engine does not keep the process alive', async () => {
    const r = await run('idle-exit');
    assert.equal(r.signal, null, `the child hung and was killed: ${r.out}`);
    assert.equal(r.code, 0, r.out);
  });

  test('an outstanding relay keeps the process alive until it completes', async () => {
    const r = await run('outstanding');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /completed closed/);
  });

  test('process.exit() with relays running exits cleanly', async () => {
    const r = await run('exit-active');
    assert.equal(r.signal, null, r.out);
    assert.equal(r.code, 0, r.out);
  });

  test('a worker_thread running a relay and an acceptor is torn down cleanly', async () => {
    const r = await run('worker');
    assert.equal(r.signal, null, r.out);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /worker exited/);
  });
});

