/**
 * Issue 10, security: what another pod can reach. The admin API (15000) answers only the pod's own loopback — not
 * the pod's IPv4/IPv6 address, and not a hand-built frame addressed to 127.0.0.1 / ::1 sent by a neighbour on the
 * same L2 segment; the health (15021) and Prometheus (15090) ports serve nothing that changes state; and an app
 * bound to 127.0.0.1 is not exposed through inbound capture (the proxy connects to the address the client used).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { httpEcho, init, REPO, startApp, startProxy } from '../../support/mesh';

const RAW_SYN = path.join(REPO, 'test/fixtures/clients/raw_syn.py');

async function http(pod: Pod, method: string, url: string): Promise<string> {
  const r = await pod.exec('curl', ['-sS', '-g', '-o', '/dev/null', '-w', '%{http_code}', '-X', method, '--max-time', '5', url], { allowFailure: true });
  return r.code === 0 ? r.stdout.trim() : `curl exit ${r.code}`;
}

async function mac(pod: Pod): Promise<string> {
  return (await pod.exec('cat', ['/sys/class/net/eth0/address'])).stdout.trim();
}

/** A raw SYN from `from` to `dst`:`port`, delivered to `to`'s MAC whatever the address: synack, rst or none. */
async function rawSyn(from: Pod, to: Pod, src: string, dst: string, port: number): Promise<string> {
  return (await from.exec('python3', [RAW_SYN, 'eth0', await mac(to), src, dst, String(port), '1.5'], { timeoutMs: 15_000 })).stdout.trim();
}

test('admin only on the pod loopback; health and metrics expose nothing mutating; localhost-only apps stay unexposed', { timeout: 90_000 }, async (t) => {
  await withLab(t, { prefix: 'secadm', ipv6: true }, async (lab) => {
    const pod = await lab.addPod('victim');
    const other = await lab.addPod('neighbour');
    await init(pod);
    const proxy = await startProxy(pod);
    await httpEcho(pod, ['8080:web']);
    const localOnly = await startApp(
      pod,
      'python3',
      ['-u', '-c', "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', 7070)); s.listen()\nprint('listening', flush=True)\nwhile True:\n    c, a = s.accept(); print('conn', a[0], flush=True); c.sendall(b'secret\\n'); c.close()"],
      /listening/,
    );
    let localOnlyOut = '';
    localOnly.stdout?.on('data', (d: Buffer) => (localOnlyOut += d.toString()));

    await t.test('the admin API listens on 127.0.0.1 only and answers there', async () => {
      const ss = (await pod.exec('ss', ['-Hltn', 'sport = :15000'])).stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)[3]);
      assert.deepEqual(ss, ['127.0.0.1:15000']);
      assert.equal(await http(pod, 'GET', 'http://127.0.0.1:15000/ready'), '200');
    });

    await t.test('another pod cannot reach the admin API at the pod address (IPv4, IPv6)', async () => {
      for (const url of [`http://${pod.ipv4}:15000/ready`, `http://[${pod.ipv6!}]:15000/ready`]) {
        assert.equal(await http(other, 'GET', url), 'curl exit 7', `${url}: expected connection refused`);
      }
    });

    await t.test('a neighbour sending frames addressed to 127.0.0.1 / ::1 gets nothing back (the kernel drops martians)', async () => {
      // Control first: the same raw SYN to the pod's own address on the health port is answered, so "none" means
      // dropped, not a broken probe.
      assert.equal(await rawSyn(other, pod, other.ipv4, pod.ipv4, 15021), 'synack');
      assert.equal(await rawSyn(other, pod, other.ipv6!, pod.ipv6!, 15021), 'synack');
      for (const port of [15000, 7070, 8080]) {
        assert.equal(await rawSyn(other, pod, other.ipv4, '127.0.0.1', port), 'none', `127.0.0.1:${port}`);
        assert.equal(await rawSyn(other, pod, other.ipv6!, '::1', port), 'none', `[::1]:${port}`);
      }
    });

    await t.test('an app bound to 127.0.0.1 is not exposed by inbound capture (the proxy connects to the pod address)', async () => {
      const inside = await pod.exec('python3', ['-c', "import socket; print(socket.create_connection(('127.0.0.1', 7070), timeout=5).recv(100).decode().strip())"]);
      assert.equal(inside.stdout.trim(), 'secret', 'control: the app answers on the pod loopback');
      const seen = localOnlyOut;
      for (const host of [pod.ipv4, pod.ipv6!]) {
        const r = await other.exec('python3', ['-c', `import socket\ntry:\n    s = socket.create_connection(('${host}', 7070), timeout=5); print(s.recv(100) or b'eof')\nexcept OSError as e: print(type(e).__name__)`]);
        assert.match(r.stdout.trim(), /^(b'eof'|ConnectionResetError|ConnectionRefusedError)$/, `${host}:7070 from another pod: ${r.stdout}`);
      }
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(localOnlyOut, seen, 'the localhost-only app saw no connection from outside');
    });

    await t.test('health (15021) and metrics (15090) serve nothing that changes state, to anyone', async () => {
      const mutating = [
        ['POST', '/quitquitquit'],
        ['POST', '/drain_listeners'],
        ['POST', '/logging?level=trace'],
        ['POST', '/reload'],
        ['GET', '/config_dump'],
        ['GET', '/server_info'],
        ['POST', '/healthz/ready/../../quitquitquit'],
      ];
      for (const port of [15021, 15090]) {
        for (const host of [pod.ipv4, `[${pod.ipv6!}]`]) {
          for (const [method, p] of mutating) {
            const code = await http(other, method!, `http://${host}:${port}${p}`);
            assert.equal(code, '404', `${method} ${host}:${port}${p}: expected 404, got ${code}`);
          }
        }
      }
      // Nothing changed: still LIVE and ready, log level untouched, the process is running.
      assert.equal(await http(other, 'GET', `http://${pod.ipv4}:15021/healthz/ready`), '200');
      const info = JSON.parse((await pod.exec('curl', ['-sS', 'http://127.0.0.1:15000/server_info'])).stdout) as { state: string };
      assert.equal(info.state, 'LIVE');
      assert.match((await pod.exec('curl', ['-sS', 'http://127.0.0.1:15000/logging'])).stdout, /sidelane: info/);
      assert.equal(proxy.process.exitCode, null);
      // Control: the same request on the admin port inside the pod does change state (so the 404s above mean it).
      assert.equal(await http(pod, 'POST', 'http://127.0.0.1:15000/logging?level=debug'), '200');
      assert.match((await pod.exec('curl', ['-sS', 'http://127.0.0.1:15000/logging'])).stdout, /sidelane: debug/);
    });
  });
});
