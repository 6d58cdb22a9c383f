/**
 * Issue 2 acceptance: inbound TPROXY capture through `sidelane init` + `sidelane run`, proven with real traffic
 * between namespaces — 1,000 checksummed connections per family and backend, the client's real address seen by
 * the app, nf_conntrack_count 0 during and after, exclusions served directly, half-close and reset faithful.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { CLI, echoServer, init, startProxy, tcpLoad } from '../../support/mesh';

async function loadWithConntrackWatch(client: Pod, server: Pod, host: string): Promise<{ summary: Awaited<ReturnType<typeof tcpLoad>>; maxDuring: number }> {
  let maxDuring = 0;
  let running = true;
  const watch = (async () => {
    while (running) {
      maxDuring = Math.max(maxDuring, await server.conntrackCount(), await client.conntrackCount());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const summary = await tcpLoad(client, { host, port: 8080 }, 1000, 50, 4096);
  running = false;
  await watch;
  return { summary, maxDuring };
}

for (const backend of ['nft', 'iptables'] as const) {
  test(`1,000 connections per family through inbound TPROXY (--backend ${backend}): intact, client address preserved, no conntrack`, async (t) => {
    await withLab(t, { prefix: `in${backend.slice(0, 3)}` }, async (lab) => {
      const client = await lab.addPod('client');
      const server = await lab.addPod('server');
      await init(server, ['--backend', backend]);
      await startProxy(server);
      await echoServer(server, [8080]);
      for (const [family, host, clientIp] of [
        ['IPv4', server.ipv4, client.ipv4],
        ['IPv6', server.ipv6!, client.ipv6!],
      ] as const) {
        const { summary, maxDuring } = await loadWithConntrackWatch(client, server, host);
        assert.equal(summary.failed, 0, `${family}: failures ${JSON.stringify(summary.errors)}`);
        assert.equal(summary.ok, 1000, `${family}: every connection completes`);
        assert.equal(summary.bytes, 1000 * 4096, `${family}: every byte came back`);
        assert.deepEqual(Object.keys(summary.peers), [clientIp], `${family}: the app sees the client pod's own address`);
        assert.equal(maxDuring, 0, `${family}: nf_conntrack_count stays 0 during the load`);
        assert.equal(await server.conntrackCount(), 0, `${family}: nf_conntrack_count is 0 afterwards`);
      }
      // The connections really went through the proxy: sidelane's TPROXY rule counted them.
      const show = JSON.parse((await server.exec('node', [CLI, 'capture', 'show', '-o', 'json'])).stdout) as {
        rules: { reason: string; packets: number; rule: string }[];
      };
      const tproxy = show.rules.filter((r) => /tproxy/i.test(r.rule) && /new inbound connection/.test(r.reason));
      const syns = tproxy.reduce((n, r) => n + r.packets, 0);
      assert.ok(syns >= 2000, `the TPROXY rules counted the 2,000 SYNs (v4 + v6), saw ${syns}: ${JSON.stringify(tproxy)}`);
    });
  });
}

test('excluded inbound ports (15090, 15021, 15020, 15008, --exclude-inbound-ports) reach the app directly', async (t) => {
  await withLab(t, { prefix: 'inexcl' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    await init(server, ['--exclude-inbound-ports', '9000']);
    // Without source preservation a proxied connection arrives from 127.0.0.6: a direct one from the client.
    // The test app itself takes the proxy's own health and metrics ports (15021, 15090).
    await startProxy(server, ['--no-preserve-source', '--no-health', '--no-metrics']);
    await echoServer(server, [8080, 9000, 15090, 15021, 15020, 15008]);
    const proxied = await tcpLoad(client, { host: server.ipv4, port: 8080 }, 5, 5, 100);
    assert.deepEqual(proxied.peers, { '127.0.0.6': 5 }, 'a captured port goes through the proxy');
    for (const port of [9000, 15090, 15021, 15020, 15008]) {
      const direct = await tcpLoad(client, { host: server.ipv4, port }, 3, 3, 100);
      assert.deepEqual(direct.peers, { [client.ipv4]: 3 }, `port ${port} must not be captured`);
    }
    const v6 = await tcpLoad(client, { host: server.ipv6!, port: 8080 }, 3, 3, 100);
    assert.deepEqual(v6.peers, { '::6': 3 }, 'IPv6 proxied connections come from ::6');
  });
});

/** Opens one connection from inside the client pod with a small python script and returns its stdout. */
async function py(client: Pod, script: string): Promise<string> {
  return (await client.exec('python3', ['-c', script], { timeoutMs: 20_000 })).stdout.trim();
}

test('half-close and reset are proxied faithfully through capture', async (t) => {
  await withLab(t, { prefix: 'inhalf' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    await init(server);
    await startProxy(server);
    const app = await echoServer(server, [8080, '8081:close-first', '8082:reset']);
    let appOut = '';
    app.stdout?.on('data', (d: Buffer) => (appOut += d.toString()));
    const ip = server.ipv4;

    // 1. The client shuts its write side and still receives the app's full response (2 MiB after its FIN).
    const got = await py(
      client,
      `import socket,hashlib,os
s=socket.create_connection(("${ip}",8080),10)
data=os.urandom(2*1024*1024); s.sendall(data); s.shutdown(socket.SHUT_WR)
buf=b""
while True:
  c=s.recv(65536)
  if not c: break
  buf+=c
echo=buf[buf.index(b"\\n")+1:]
print(hashlib.sha256(echo).hexdigest()==hashlib.sha256(data).hexdigest(), len(echo))`,
    );
    assert.equal(got, `True ${2 * 1024 * 1024}`);

    // 2. The app shuts first; the client still sends and the app receives it all.
    const sent = await py(
      client,
      `import socket,time
s=socket.create_connection(("${ip}",8081),10)
assert s.recv(100)==b"bye\\n"
assert s.recv(100)==b""
time.sleep(0.2)
s.sendall(b"x"*300000); s.shutdown(socket.SHUT_WR); time.sleep(0.5); print("sent")`,
    );
    assert.equal(sent, 'sent');
    for (let i = 0; i < 50 && !/received/.test(appOut); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(appOut, new RegExp(`received 300000 from ${client.ipv4.replace(/\./g, '\\.')}`));

    // 3. A reset from the app arrives as a reset at the client.
    const reset = await py(
      client,
      `import socket,time
s=socket.create_connection(("${ip}",8082),10)
s.sendall(b"trigger")
try:
  time.sleep(0.5)
  r=s.recv(100)
  print("eof" if r==b"" else "data")
except ConnectionResetError:
  print("reset")`,
    );
    assert.equal(reset, 'reset');
    assert.equal(await server.conntrackCount(), 0);
  });
});

test('a direct connection to the inbound listener port from another pod is refused', async (t) => {
  await withLab(t, { prefix: 'indirect' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    await init(server);
    await startProxy(server);
    for (const port of [15006, 15001]) {
      const r = await py(
        client,
        `import socket
try:
  s=socket.create_connection(("${server.ipv4}",${port}),5); s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n"); print("data:"+repr(s.recv(100)))
except (ConnectionResetError, ConnectionRefusedError) as e:
  print("refused")`,
      );
      assert.ok(r === 'refused' || r === "data:b''", `port ${port}: expected refusal, got ${r}`);
    }
  });
});

test("source preservation: the proxy's legs to the app never take a port the client uses next", { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'inport' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    // Both pods' ephemeral ranges squeezed to the same 1,000 ports: a proxy that let the kernel pick its leg's port
    // (from the server pod's range) would soon pick one the client is about to use for a new connection.
    for (const pod of [client, server]) await pod.exec('sysctl', ['-qw', 'net.ipv4.ip_local_port_range=40000 40999']);
    await init(server);
    await startProxy(server);
    await echoServer(server, [8080]);
    // 900 connections: the client itself has 1,000 ports, each in TIME_WAIT for a minute after use.
    const summary = await tcpLoad(client, { host: server.ipv4, port: 8080 }, 900, 20, 64);
    assert.equal(summary.failed, 0, `failures: ${JSON.stringify(summary.errors)}`);
    assert.deepEqual(Object.keys(summary.peers), [client.ipv4]);
  });
});
