/**
 * Issue 10, file-descriptor exhaustion: the proxy runs under a low open-file limit (`ulimit -n`, as a container with
 * a small nofile limit); connections are opened until it has no descriptor left. Established connections keep
 * working, new ones are refused at once (a reset or close, never a hang), the worker does not crash, the condition
 * is logged once per interval rather than per connection, and the proxy serves new connections again as soon as
 * descriptors are free. Finally every descriptor is returned.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { withLab } from '../../support/netns';
import { APPS, echoServer, init, startProxy } from '../../support/mesh';
import { activeDownstream, fdsNetOfPipePool, serverInfo, settle } from '../../support/proxy-probe';

/** Drives test/support/apps/conn-holder over its stdin/stdout. */
class Holder {
  private readonly lines: string[] = [];
  private waiter: ((line: string) => void) | undefined;
  constructor(private readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(line);
      } else this.lines.push(line);
    });
  }
  private next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((r) => (this.waiter = r));
  }
  async ready(): Promise<void> {
    assert.equal(await this.next(), 'ready');
  }
  async send<T>(cmd: string): Promise<T> {
    this.child.stdin!.write(`${cmd}\n`);
    return JSON.parse(await this.next()) as T;
  }
}

interface OpenResult {
  opened: number;
  failed: number;
  errors: Record<string, number>;
  held: number;
}
interface PingResult {
  ok: number;
  failed: number;
  held: number;
}

const LIMIT = 160;
const INTERVAL_NOTE = /file descriptor limit reached/;

test('at the open-file limit the proxy keeps existing connections, refuses new ones cleanly, logs once, and recovers', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'rlfd' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    await init(server);
    await echoServer(server, [8080]);
    const proxy = await startProxy(server, ['--concurrency', '1'], {}, { fileLimit: LIMIT });
    const [worker] = (await serverInfo(server)).workers;
    assert.ok(worker);
    // Net of the native relay's pooled pipes (a bounded cache, 2 fds each).
    const fdsNow = (): Promise<number> => fdsNetOfPipePool(server, [worker.pid]);
    const baseline = await fdsNow();
    t.diagnostic(`worker ${worker.pid}: ${baseline} fds at rest, limit ${LIMIT}`);

    const holder = new Holder(client.spawn('node', [path.join(APPS, 'conn-holder.js'), server.ipv4, '8080']));
    await holder.ready();
    // Each held connection costs the worker two descriptors (downstream and the leg to the app).
    const first = Math.floor((LIMIT - baseline) / 2) - 10;
    const opened = await holder.send<OpenResult>(`open ${first}`);
    assert.deepEqual(opened, { opened: first, failed: 0, errors: {}, held: first }, 'below the limit every connection works');

    // Past the limit: every further attempt must end quickly (no hang until the client's 3 s timeout).
    const started = Date.now();
    const over = await holder.send<OpenResult>('open 40 3000');
    const took = Date.now() - started;
    t.diagnostic(`past the limit: ${JSON.stringify(over)} in ${took} ms`);
    assert.ok(over.failed >= 20, `most connections past the limit are refused (${JSON.stringify(over)})`);
    assert.equal(over.errors.timeout ?? 0, 0, `refusals are immediate, never a hang: ${JSON.stringify(over.errors)}`);
    const pinged = await holder.send<PingResult>('ping');
    assert.equal(pinged.failed, 0, `established connections keep working at the limit (${JSON.stringify(pinged)})`);
    assert.equal(pinged.ok, first + over.opened);

    // Bursts (the kernel queues several connections, so accept() itself hits the limit): still refused at once,
    // still no per-connection log line.
    for (let i = 0; i < 3; i++) {
      const burst = await holder.send<OpenResult>('burst 30 3000');
      assert.equal(burst.errors.timeout ?? 0, 0, `a burst past the limit is refused at once: ${JSON.stringify(burst)}`);
    }
    assert.equal((await holder.send<PingResult>('ping')).failed, 0, 'established connections survived the bursts');
    const notes = proxy.stderr().split('\n').filter((l) => INTERVAL_NOTE.test(l));
    assert.ok(notes.length >= 1 && notes.length <= 2, `the exhaustion is logged once per interval, not per connection (${notes.length} lines):\n${notes.join('\n')}`);

    const metrics = (await server.exec('curl', ['-sS', 'http://127.0.0.1:15090/stats/prometheus'])).stdout;
    const counted = [...metrics.matchAll(/^sidelane_fd_exhausted_total\{where="(accept|connect)"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[2]), 0);
    assert.ok(counted >= 1, `sidelane_fd_exhausted_total counts the refusals:\n${metrics.split('\n').filter((l) => l.includes('fd_exhausted')).join('\n')}`);
    t.diagnostic(`sidelane_fd_exhausted_total ${counted}`);

    // Recovery: free descriptors, new connections work again.
    const left = await holder.send<{ held: number }>('close 30');
    // The proxy closes its side once it has seen the client's FIN: wait until it did.
    assert.equal(await settle(() => activeDownstream(server), (n) => n === left.held), left.held);
    const again = await holder.send<OpenResult>('open 10');
    assert.equal(again.failed, 0, `after descriptors were freed new connections work (${JSON.stringify(again)})`);
    const info = await serverInfo(server);
    assert.deepEqual(info.workers.map((w) => [w.pid, w.restarts]), [[worker.pid, 0]], 'the worker never crashed');

    // Everything closed: the worker is back at rest.
    await holder.send(`close ${again.held}`);
    assert.equal(await settle(() => activeDownstream(server), (n) => n === 0), 0);
    assert.equal(await settle(fdsNow, (n) => n === baseline), baseline, 'every descriptor was returned');
  });
});
