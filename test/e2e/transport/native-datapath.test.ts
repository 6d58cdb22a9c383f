import assert from 'node:assert/strict';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import { withLab } from '../../support/netns';

// The native acceptor's SO_ORIGINAL_DST (the --mode redirect baseline) against real nat REDIRECT rules, v4 and v6,
// inside a pod namespace this test creates; bytes then go through the native relay to a local server and back.
test('native acceptor reads SO_ORIGINAL_DST of REDIRECTed connections (v4, v6); the native relay carries them', { timeout: 60_000 }, async (t) => {
  await withLab(t, { prefix: 'slnat' }, async (lab) => {
    const pod = await lab.addPod('app');
    const vip4 = '198.19.0.10';
    const vip6 = '2001:db8:100::10';
    await pod.sh(
      [
        `iptables -t nat -A OUTPUT -p tcp -d ${vip4} --dport 80 -j REDIRECT --to-ports 15001`,
        `ip6tables -t nat -A OUTPUT -p tcp -d ${vip6} --dport 80 -j REDIRECT --to-ports 15001`,
      ].join(' && '),
    );
    const child = pod.spawn(process.execPath, [path.join(__dirname, '../../support/native-child.js'), 'origdst', '15001']);
    const lines: Record<string, unknown>[] = [];
    const waiters: (() => void)[] = [];
    readline.createInterface({ input: child.stdout! }).on('line', (l) => {
      lines.push(JSON.parse(l) as Record<string, unknown>);
      for (const w of waiters.splice(0)) w();
    });
    const waitFor = async (pred: () => boolean): Promise<void> => {
      const deadline = Date.now() + 15_000;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out; child said: ${JSON.stringify(lines)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    };
    await waitFor(() => lines.some((l) => l.event === 'ready'));
    const client = (host: string, payload: string): string =>
      `const s=require('net').connect({host:'${host}',port:80,allowHalfOpen:true});let d='';` +
      `s.on('data',c=>d+=c);s.on('end',()=>{process.stdout.write(d);s.end()});s.end('${payload}');`;
    for (const [vip, payload] of [
      [vip4, 'hello over v4'],
      [vip6, 'hello over v6'],
    ] as const) {
      const r = await pod.exec(process.execPath, ['-e', client(vip, payload)]);
      assert.equal(r.stdout, payload, `echo through REDIRECT + native relay to ${vip}`);
    }
    await waitFor(() => lines.filter((l) => l.event === 'relayed').length === 2);
    const relayed = lines.filter((l) => l.event === 'relayed') as { origDst?: { address: string; port: number; family: number }; end: string; bytesUp: number }[];
    const byVip = new Map(relayed.map((l) => [l.origDst?.address, l]));
    assert.deepEqual(byVip.get(vip4)?.origDst, { address: vip4, port: 80, family: 4 });
    assert.deepEqual(byVip.get(vip6)?.origDst, { address: vip6, port: 80, family: 6 });
    for (const l of relayed) {
      assert.equal(l.end, 'closed');
      assert.equal(l.bytesUp, 'hello over v4'.length);
    }
    child.kill();
  });
});
