import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { Lab, listNetns } from '../../../src/netns/lab';
import { netnsAvailable } from '../../support/netns';

test('a lab gives pods on a bridge (v4 and v6), names through hosts, and removes everything', async (t) => {
  if (!netnsAvailable(t)) return;
  const before = await listNetns();
  const lab = await Lab.create({ prefix: 'labt' });
  let netnsNames: string[] = [];
  try {
    const a = await lab.addPod('a');
    const b = await lab.addPod('b');
    lab.setHosts({ 'svc-b': b.ipv4 });
    netnsNames = [a.netns, b.netns, lab.nodeNetns];
    const server = b.spawn('python3', ['-u', '-c', 'import socket,sys\ns=socket.socket(socket.AF_INET6);s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0);s.bind(("::",7000));s.listen();print("listening")\nwhile True:\n  c,_=s.accept();c.sendall(b"pong");c.close()']);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the test server did not start')), 10_000);
      server.stdout?.on('data', (d: Buffer) => d.toString().includes('listening') && (clearTimeout(timer), resolve()));
    });
    const v4 = await a.sh('python3 -c "import socket;s=socket.create_connection((\'svc-b\',7000),2);print(s.recv(10).decode())"');
    assert.equal(v4.stdout.trim(), 'pong');
    const v6 = await a.sh(`python3 -c "import socket;s=socket.create_connection(('${b.ipv6}',7000),2);print(s.recv(10).decode())"`);
    assert.equal(v6.stdout.trim(), 'pong');
    // Nothing leaves the lab: an address outside the test ranges is unreachable from a pod (node routes nowhere).
    const routes = await a.exec('ip', ['route']);
    assert.match(routes.stdout, /default via 198\.18\.0\.1/);
    const nodeRoutes = await a.lab.pods[0]!.exec('ip', ['-n', lab.nodeNetns, 'route'], { allowFailure: true });
    assert.ok(!/default/.test(nodeRoutes.stdout), 'the node namespace must have no default route');
    assert.ok(server.pid);
  } finally {
    await lab.destroy();
  }
  const after = await listNetns();
  for (const ns of netnsNames) assert.ok(!after.includes(ns), `namespace ${ns} left behind`);
  assert.deepEqual(after.filter((n) => !before.includes(n) && n.startsWith('labt-')), []);
  for (const ns of netnsNames) assert.ok(!existsSync(`/etc/netns/${ns}`), `/etc/netns/${ns} left behind`);
});
