import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { addon } from '../../../src/native/addon';
import { SystemError } from '../../../src/errors';
import { isRoot } from '../../../src/netns/lab';

test('listen() returns a listening fd a net.Server can adopt', async () => {
  const fd = addon().listen({ family: 4, address: '127.0.0.1', port: 0, transparent: false, reusePort: true });
  const server = net.createServer((s) => s.end('hello'));
  await new Promise<void>((r) => server.listen({ fd }, r));
  const { port } = addon().localAddress(fd);
  const got = await new Promise<string>((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let data = '';
    c.on('data', (d) => (data += d.toString()));
    c.on('end', () => resolve(data));
    c.on('error', reject);
  });
  assert.equal(got, 'hello');
  server.close();
});

test('listen() on a taken port throws a typed SystemError with the errno name', () => {
  const fd = addon().listen({ family: 4, address: '127.0.0.1', port: 0, transparent: false, reusePort: false });
  const { port } = addon().localAddress(fd);
  assert.throws(
    () => addon().listen({ family: 4, address: '127.0.0.1', port, transparent: false, reusePort: false }),
    (err: unknown) => err instanceof SystemError && err.errnoName === 'EADDRINUSE' && err.syscall === 'bind',
  );
  addon().closeFd(fd);
});

test('connect() reports refusal as ECONNREFUSED through the completion callback or at once', async () => {
  const fd = addon().listen({ family: 4, address: '127.0.0.1', port: 0, transparent: false, reusePort: false });
  const { port } = addon().localAddress(fd);
  addon().closeFd(fd);
  const results = new Map<number, number>();
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  addon().setConnectCallback((cfd, errno) => {
    results.set(cfd, errno);
    resolveDone();
  });
  const start = addon().connect({ family: 4, address: '127.0.0.1', port });
  if (start.errno === 115) {
    await done;
    assert.equal(results.get(start.fd), 111);
  } else {
    assert.equal(start.code, 'ECONNREFUSED');
    assert.equal(start.fd, -1);
  }
});

test('getCookie() gives distinct 64-bit cookies; setMark/getMark round-trip (root)', { skip: !isRoot() && 'needs CAP_NET_ADMIN' }, async () => {
  const a = addon().listen({ family: 4, address: '127.0.0.1', port: 0, transparent: false, reusePort: false });
  const b = addon().listen({ family: 6, address: '::1', port: 0, transparent: false, reusePort: false, v6Only: true });
  assert.notEqual(addon().getCookie(a), addon().getCookie(b));
  assert.equal(typeof addon().getCookie(a), 'bigint');
  addon().setMark(a, 0x53a);
  assert.equal(addon().getMark(a), 0x53a);
  addon().closeFd(a);
  addon().closeFd(b);
});

test('getOriginalDst() on a connection that was not redirected fails with a typed error', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const c = net.connect(port, '127.0.0.1');
  const s = await accepted;
  const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
  assert.throws(() => addon().getOriginalDst(fd, 4), (err: unknown) => err instanceof SystemError && /ORIGINAL_DST/.test(err.syscall));
  c.destroy();
  s.destroy();
  server.close();
});
