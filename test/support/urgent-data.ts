/**
 * TCP urgent (out-of-band) data through a relay, from a real client: Python sends "abc", one urgent byte
 * (`MSG_OOB`), "def", and keeps its connection open for 10 s. The kernel's reads stop at the urgent mark (splice
 * cannot pass it at all), so a relay that took the short read before the mark for "drained" would hold "def" until
 * the client closed. The urgent byte is out of band (not in the stream without SO_OOBINLINE): the server must receive
 * "abcdef" long before the close, as through HAProxy or Envoy, which do not relay urgent data either.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';

/** A relay under test, listening on `port` and forwarding each connection to the given upstream port. */
export interface UrgentForwarder {
  readonly port: number;
  close(): void;
}

const CLIENT = [
  'import socket, sys, time',
  's = socket.create_connection(("127.0.0.1", int(sys.argv[1])))',
  's.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)',
  's.send(b"abc"); s.send(b"!", socket.MSG_OOB); s.send(b"def")',
  'time.sleep(10)',
  's.close()',
].join('\n');

export async function assertUrgentDataDoesNotStall(forward: (upstreamPort: number) => Promise<UrgentForwarder>): Promise<void> {
  const received: Buffer[] = [];
  let ended = false;
  const server = net.createServer((sock) => {
    sock.on('data', (d: Buffer) => received.push(d));
    sock.on('end', () => {
      ended = true;
      sock.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const fwd = await forward((server.address() as net.AddressInfo).port);
  const client = spawn('python3', ['-c', CLIENT, String(fwd.port)], { stdio: 'ignore' });
  const spawnedAt = Date.now();
  try {
    // A stalled relay delivers "def" only when the client closes, 10 s in.
    while (Buffer.concat(received).length < 6 && !ended && Date.now() - spawnedAt < 15_000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(Buffer.concat(received).toString(), 'abcdef');
    const waited = Date.now() - spawnedAt;
    assert.ok(!ended && waited < 8_000, `the bytes behind the urgent byte came only with the client's close (${waited} ms)`);
  } finally {
    client.kill();
    fwd.close();
    server.close();
  }
}
