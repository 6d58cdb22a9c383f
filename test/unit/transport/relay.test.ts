import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { test } from 'node:test';
import { relay } from '../../../src/transport/relay';
import { once, readAll, socketPair } from '../../support/sockets';
import { assertUrgentDataDoesNotStall } from '../../support/urgent-data';

// Topology for every test: client <-> [down | relay | up] <-> server, all real loopback sockets.
async function topology() {
  const a = await socketPair(); // a.client = the app client, a.accepted = the proxy's downstream
  const b = await socketPair(); // b.client = the proxy's upstream, b.accepted = the server
  const result = relay(a.accepted, b.client, {});
  return { client: a.client, server: b.accepted, result, close: () => (a.close(), b.close()) };
}

test('relays bytes both ways intact and counts them', async () => {
  const t = await topology();
  const up = randomBytes(3 * 1024 * 1024);
  const down = randomBytes(1024 * 1024);
  const serverGot = readAll(t.server);
  const clientGot = readAll(t.client);
  t.client.end(up);
  t.server.end(down);
  assert.equal(createHash('sha256').update(await serverGot).digest('hex'), createHash('sha256').update(up).digest('hex'));
  assert.equal(createHash('sha256').update(await clientGot).digest('hex'), createHash('sha256').update(down).digest('hex'));
  const r = await t.result;
  assert.equal(r.bytesUp, up.length);
  assert.equal(r.bytesDown, down.length);
  assert.equal(r.end, 'closed');
  t.close();
});

test('urgent (out-of-band) data does not hold back the bytes behind it', { timeout: 30_000 }, async () => {
  // The same real-client case as the native relay's (test/support/urgent-data.ts).
  await assertUrgentDataDoesNotStall(async (upstreamPort) => {
    const forwarder = net.createServer((down) => {
      void relay(down, net.connect(upstreamPort, '127.0.0.1'), {});
    });
    await new Promise<void>((r) => forwarder.listen(0, '127.0.0.1', r));
    return { port: (forwarder.address() as net.AddressInfo).port, close: () => forwarder.close() };
  });
});

test('half-close: the client shuts its write side and still receives the full response', async () => {
  const t = await topology();
  const request = await (async () => {
    const got = readAll(t.server);
    t.client.end('request');
    return got;
  })();
  assert.equal(request.toString(), 'request');
  // The server answers after the client's FIN arrived — only possible if FIN was forwarded, not a close.
  const response = randomBytes(512 * 1024);
  const clientGot = readAll(t.client);
  t.server.end(response);
  assert.ok((await clientGot).equals(response));
  await t.result;
  t.close();
});

test('half-close: the server shuts first and the client can still send', async () => {
  const t = await topology();
  const clientGot = readAll(t.client);
  t.server.end('bye');
  assert.equal((await clientGot).toString(), 'bye');
  const serverGot = readAll(t.server);
  t.client.end('late data after server FIN');
  assert.equal((await serverGot).toString(), 'late data after server FIN');
  const r = await t.result;
  assert.equal(r.end, 'closed');
  t.close();
});

test('a reset from the server arrives as a reset at the client', async () => {
  const t = await topology();
  t.client.write('x');
  await once(t.server, 'data');
  const err = once<NodeJS.ErrnoException>(t.client, 'error');
  t.server.resetAndDestroy();
  assert.equal((await err).code, 'ECONNRESET');
  const r = await t.result;
  assert.equal(r.end, 'upstream_reset');
  t.close();
});

test('a reset from the client arrives as a reset at the server', async () => {
  const t = await topology();
  t.client.write('x');
  await once(t.server, 'data');
  const err = once<NodeJS.ErrnoException>(t.server, 'error');
  t.client.resetAndDestroy();
  assert.equal((await err).code, 'ECONNRESET');
  assert.equal((await t.result).end, 'downstream_reset');
  t.close();
});

test('backpressure: a server that does not read stops the relay from reading (bounded buffering)', async () => {
  const a = await socketPair();
  const b = await socketPair();
  const result = relay(a.accepted, b.client, {});
  b.accepted.pause(); // the server never reads
  let written = 0;
  const chunk = Buffer.alloc(64 * 1024);
  // Write until the client's own buffer is full: the relay must have stopped pulling from it.
  while (a.client.write(chunk)) written += chunk.length;
  await new Promise((r) => setTimeout(r, 300));
  const inRelay = b.client.writableLength; // bytes queued in the proxy's upstream socket
  assert.ok(inRelay <= 256 * 1024, `relay buffered ${inRelay} bytes; expected it bounded`);
  assert.ok(written < 64 * 1024 * 1024, 'the client should have been blocked by backpressure');
  a.client.destroy();
  b.accepted.destroy();
  await result;
  a.close();
  b.close();
});

test('idle timeout closes both sides', async () => {
  const a = await socketPair();
  const b = await socketPair();
  const result = relay(a.accepted, b.client, { idleTimeoutMs: 150 });
  const r = await result;
  assert.equal(r.end, 'idle_timeout');
  a.client.destroy();
  b.accepted.destroy();
  a.close();
  b.close();
});
