/**
 * Issue 3 acceptance through the real mesh: real clients in a client pod (hooked with `sidelane exec`) reach real
 * servers in a server pod through both sidecars — the client's outbound listener (PROXY v2 from the hook) and the
 * server's inbound TPROXY listener — with nf_conntrack_count 0 in both pods.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withLab } from '../../support/netns';
import { echoServer, execHooked, httpEcho, init, JAVA_CLIENT, startProxy } from '../../support/mesh';


test('real clients reach real servers through both sidecars (hook → outbound listener → inbound TPROXY)', { timeout: 240_000 }, async (t) => {
  await withLab(t, { prefix: 'obhook' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    lab.setHosts({ 'web.test': server.ipv4, 'web6.test': server.ipv6! });
    for (const pod of [client, server]) {
      await init(pod);
      await startProxy(pod);
    }
    await httpEcho(server, ['8080:web']);
    await echoServer(server, ['2525:greet']);

    const seen = (out: string): { name: string; peer: string } => JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1)) as { name: string; peer: string };
    const v4 = (out: string): void => assert.deepEqual(seen(out).peer, client.ipv4, `the server sees the client pod (${out.slice(0, 200)})`);

    await t.test('curl by name, IPv4 and IPv6', async () => {
      v4(await execHooked(client, ['curl', '-sS', '--max-time', '10', 'http://web.test:8080/curl']));
      const out = await execHooked(client, ['curl', '-sS', '-g', '--max-time', '10', `http://[${server.ipv6}]:8080/curl6`]);
      assert.equal(seen(out).peer, client.ipv6);
    });
    await t.test('wget', async () => {
      v4(await execHooked(client, ['wget', '-q', '-T', '10', '-O', '-', 'http://web.test:8080/wget']));
    });
    await t.test('Python urllib and asyncio', async () => {
      v4(await execHooked(client, ['python3', '-c', "import urllib.request; print(urllib.request.urlopen('http://web.test:8080/py', timeout=10).read().decode())"]));
      const asyncio = `
import asyncio
async def main():
    r, w = await asyncio.open_connection('${server.ipv4}', 8080)
    w.write(b'GET /asyncio HTTP/1.1\\r\\nHost: web\\r\\nConnection: close\\r\\n\\r\\n')
    await w.drain()
    print((await r.read()).decode())
asyncio.run(main())`;
      v4(await execHooked(client, ['python3', '-c', asyncio]));
    });
    await t.test('Node fetch and net.connect', async () => {
      v4(await execHooked(client, ['node', '-e', "fetch('http://web.test:8080/fetch').then((r) => r.text()).then(console.log, (e) => { console.error(e); process.exit(1); })"]));
      const net = `const s = require('net').connect(8080, '${server.ipv4}', () => s.write('GET /net HTTP/1.1\\r\\nHost: web\\r\\nConnection: close\\r\\n\\r\\n'));
let out = ''; s.on('data', (d) => (out += d)); s.on('end', () => console.log(out)); s.on('error', (e) => { console.error(e.message); process.exit(1); });`;
      v4(await execHooked(client, ['node', '-e', net]));
    });
    await t.test('Java java.net.http.HttpClient', async () => {
      v4(await execHooked(client, ['java', JAVA_CLIENT, 'http://web.test:8080/java']));
    });
    await t.test('a server-first protocol: the greeting arrives before the client sends anything', async () => {
      const script = `
import socket
s = socket.create_connection(('${server.ipv4}', 2525), timeout=10)
f = s.makefile('rb')
print(f.readline().decode().strip())
s.sendall(b'QUIT\\n')
print(f.readline().decode().strip())`;
      const out = await execHooked(client, ['python3', '-c', script]);
      assert.deepEqual(out.trim().split('\n'), ['220 greeting', 'QUIT']);
    });
    assert.equal(await client.conntrackCount(), 0, 'nf_conntrack_count in the client pod');
    assert.equal(await server.conntrackCount(), 0, 'nf_conntrack_count in the server pod');
  });
});

test('connections to 15001 without a valid PROXY v2 header are refused and never forwarded', async (t) => {
  await withLab(t, { prefix: 'obhdr' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    await init(client);
    await startProxy(client);
    const app = await echoServer(server, [8080], { log: true });
    let appOut = '';
    app.stdout?.on('data', (d: Buffer) => (appOut += d.toString()));
    const script = (payload: string): string => `
import socket
s = socket.create_connection(('127.0.0.9', 15001), timeout=5)
s.sendall(${payload})
s.settimeout(5)
try:
    r = s.recv(100)
    print('eof' if r == b'' else 'data')
except ConnectionResetError:
    print('reset')
except socket.timeout:
    print('timeout')`;
    const sig = "b'\\r\\n\\r\\n\\x00\\r\\nQUIT\\n'";
    for (const [what, payload] of [
      ['plain HTTP instead of a header', "b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'"],
      ['a truncated header (signature, then silence)', sig],
      ['a header with a bad version', `${sig} + b'\\x31\\x11\\x00\\x0c' + bytes(12)`],
    ] as const) {
      const r = await client.exec('python3', ['-c', script(payload)]);
      assert.ok(['reset', 'eof'].includes(r.stdout.trim()), `${what}: expected the listener to refuse, got ${r.stdout.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(appOut.includes('conn'), false, 'the proxy must never connect anywhere for a refused connection');
    // Control: the same connection with a valid header does reach the server (so the check above can fail).
    const valid = `${sig} + b'\\x21\\x11\\x00\\x0c' + socket.inet_aton('127.0.0.1') + socket.inet_aton('${server.ipv4}') + (40000).to_bytes(2, 'big') + (8080).to_bytes(2, 'big')`;
    const r = await client.exec('python3', ['-c', script(valid)]);
    assert.equal(r.stdout.trim(), 'data', 'a valid header is forwarded and the echo server answers');
    for (let i = 0; i < 30 && !appOut.includes('conn'); i++) await new Promise((res) => setTimeout(res, 100));
    assert.match(appOut, new RegExp(`conn ${client.ipv4.replace(/\./g, '\\.')}`));
  });
});
