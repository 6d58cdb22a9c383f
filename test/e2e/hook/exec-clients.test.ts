/**
 * Real clients under `sidelane exec` in a lab pod: curl, wget, Python (urllib, asyncio), Node (fetch, net.connect),
 * Java (java.net.http.HttpClient) and a server-first protocol. A stand-in outbound listener (header-echo-server.ts)
 * decodes each connection's PROXY v2 header with the TypeScript codec and answers with what it carried, so this
 * also proves the C encoder and the TypeScript decoder agree on real bytes. Nothing leaves the pod: the
 * destinations (198.18.50.x) exist only in the headers.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { JAVA_CLIENT } from '../../support/mesh';

const root = process.env.SIDELANE_ROOT ?? path.resolve(__dirname, '../../../..');
const cli = path.join(root, 'dist/src/cli/main.js');

interface Carried {
  family: string;
  source: string;
  destination: string;
  caller: { pid?: number; uid?: number; comm?: string } | null;
}

function baseEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIDELANE_') && k !== 'LD_PRELOAD'));
}

async function hooked(pod: Pod, command: string[]): Promise<string> {
  const r = await pod.exec(process.execPath, [cli, 'exec', '--on-proxy-down', 'closed', '--', ...command], {
    allowFailure: true,
    env: baseEnv(),
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 0, `${command.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function carried(output: string): Carried {
  const json = output.slice(output.indexOf('{'), output.lastIndexOf('}') + 1);
  assert.ok(json.length > 0, `no JSON in the client's output: ${output}`);
  return JSON.parse(json) as Carried;
}

function expectCarried(output: string, destination: string, comm: RegExp): void {
  const c = carried(output);
  assert.equal(c.destination, destination, `header destination (output: ${output})`);
  assert.match(c.caller?.comm ?? '', comm, `caller comm in ${JSON.stringify(c)}`);
  assert.ok((c.caller?.pid ?? 0) > 1, `caller pid in ${JSON.stringify(c)}`);
  assert.equal(c.caller?.uid, 0);
  assert.match(c.source, /^(127\.0\.0\.1|\[::1\]):\d+$/, 'the source is the app socket after the loopback connect');
}

const PY_ASYNCIO = `
import asyncio
async def main():
    r, w = await asyncio.open_connection('198.18.50.4', 8083)
    w.write(b'GET / HTTP/1.1\\r\\nHost: svc\\r\\nConnection: close\\r\\n\\r\\n')
    await w.drain()
    print((await r.read()).decode())
asyncio.run(main())
`;

const NODE_NET = `
const s = require('net').connect(8085, '2001:db8:50::6', () => s.write('GET / HTTP/1.1\\r\\nHost: svc\\r\\n\\r\\n'));
let out = ''; s.on('data', (d) => (out += d)); s.on('end', () => console.log(out));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
`;

const SERVER_FIRST = `
import socket
s = socket.create_connection(('198.18.50.8', 2525), timeout=10)
f = s.makefile('rb')
greeting = f.readline().decode()
assert greeting.startswith('220 '), greeting
s.sendall(b'QUIT\\n')
print(f.readline().decode())
`;


test('real clients under `sidelane exec` reach the outbound listener with the right PROXY v2 header', { timeout: 240_000 }, async (t) => {
  await withLab(t, { prefix: 'slhx' }, async (lab) => {
    const pod = await lab.addPod('client');

    const server = pod.spawn(process.execPath, [path.join(__dirname, 'header-echo-server.js'), '15001']);
    let serverOut = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stand-in listener did not start: ${serverOut}`)), 10_000);
      server.stdout?.on('data', (d: Buffer) => {
        serverOut += d.toString();
        if (serverOut.includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.stderr?.on('data', (d: Buffer) => (serverOut += d.toString()));
    });

    await t.test('curl (IPv4 and IPv6)', async () => {
      expectCarried(await hooked(pod, ['curl', '-sS', '--max-time', '10', 'http://198.18.50.1:8080/']), '198.18.50.1:8080', /^curl$/);
      expectCarried(await hooked(pod, ['curl', '-sS', '-g', '--max-time', '10', 'http://[2001:db8:50::1]:8080/']), '[2001:db8:50::1]:8080', /^curl$/);
    });
    await t.test('wget', async () => {
      expectCarried(await hooked(pod, ['wget', '-q', '-T', '10', '-O', '-', 'http://198.18.50.2:8081/']), '198.18.50.2:8081', /^wget$/);
    });
    await t.test('Python urllib and asyncio', async () => {
      const urllib = "import urllib.request; print(urllib.request.urlopen('http://198.18.50.3:8082/', timeout=10).read().decode())";
      expectCarried(await hooked(pod, ['python3', '-c', urllib]), '198.18.50.3:8082', /^python/);
      expectCarried(await hooked(pod, ['python3', '-c', PY_ASYNCIO]), '198.18.50.4:8083', /^python/);
    });
    await t.test('Node fetch and net.connect (libuv non-blocking connect)', async () => {
      const fetchScript = "fetch('http://198.18.50.5:8084/').then((r) => r.text()).then((t) => console.log(t), (e) => { console.error(e); process.exit(1); })";
      expectCarried(await hooked(pod, [process.execPath, '-e', fetchScript]), '198.18.50.5:8084', /^node/);
      expectCarried(await hooked(pod, [process.execPath, '-e', NODE_NET]), '[2001:db8:50::6]:8085', /^node/);
    });
    await t.test('Java java.net.http.HttpClient (NIO)', async () => {
      expectCarried(await hooked(pod, ['java', JAVA_CLIENT, 'http://198.18.50.7:8086/']), '198.18.50.7:8086', /^java$/);
    });
    await t.test('a server-first protocol: the greeting arrives although the client has sent nothing yet', async () => {
      const out = await hooked(pod, ['python3', '-c', SERVER_FIRST]);
      assert.match(out, /^221 /m);
      expectCarried(out, '198.18.50.8:2525', /^python/);
    });

    assert.doesNotMatch(serverOut, /BAD/, `the stand-in listener rejected a header: ${serverOut}`);
    assert.equal(await pod.conntrackCount(), 0, 'nf_conntrack_count in the client pod');
  });
});
