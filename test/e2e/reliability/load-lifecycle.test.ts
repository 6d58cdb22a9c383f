/**
 * Issue 10, lifecycle under load, through real `sidelane run` in network namespaces:
 *  - the client pod's sidecar restarts (SIGTERM, a new one a second after it exited) while hooked clients keep
 *    connecting: the hook's wait (30 s bound here) bridges the gap, no connection fails; with the real proxy down,
 *    `closed` fails at once with ECONNREFUSED and `open` connects directly;
 *  - SIGTERM under a steady keep-alive HTTP load: every request completes with 200 or was never sent (counted
 *    exactly against what the app received);
 *  - reloads (SIGHUP and file change) under steady HTTP and TCP load: no error, each new route takes effect;
 *  - a killed worker loses exactly its own connections: the other worker's keep exchanging bytes, the supervisor
 *    replaces it, new connections succeed.
 * test/e2e/observability/lifecycle.test.ts covers health, admin and the drain of slow in-flight requests.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { test } from 'node:test';
import { stopProcess, type Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { fdKinds, serverInfo, settle, stats } from '../../support/proxy-probe';
import { Holder, type OpenResult, type PingResult } from '../../support/conn-holder';
import { APPS, CLI, cleanEnv, echoServer, httpEcho, init, startProxy } from '../../support/mesh';
import { startChurn } from '../../support/load-scenario';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('the client sidecar restarts while hooked clients keep connecting: the hook\'s wait bridges the gap, no connection fails', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'rlrst' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    await init(client);
    await echoServer(server, [9000]);
    const first = await startProxy(client, ['--concurrency', '2']);
    // Two clients, each connecting one connection after the other (a connection lives ~20 ms), every one checked.
    const runs = [0, 1].map(() =>
      // A bound well above the restart time: on a loaded machine a new sidecar can take more than the default 5 s
      // to start (the wait bound itself is tested in the proxy-down test below).
      startChurn(client, ['--target', `${server.ipv4}:9000`, '--connections', '1', '--rate', '50', '--duration-ms', '60000', '--log-connections'], { hookArgs: ['--on-proxy-down', 'wait:30000'] }),
    );
    await sleep(2000);
    const before = runs.map((r) => r.connections.length);
    first.process.kill('SIGTERM');
    const code = await first.exited;
    const downAt = Date.now();
    assert.equal(code, 0, `the first proxy drained and exited 0: ${first.stderr()}`);
    await sleep(1000);
    const second = await startProxy(client, ['--concurrency', '2']);
    const upAt = Date.now();
    await sleep(2000);
    for (const r of runs) r.stop();
    const summaries = await Promise.all(runs.map((r) => r.done));
    t.diagnostic(`proxy down for ${upAt - downAt} ms; ${JSON.stringify(summaries.map((s) => ({ opened: s.opened, ok: s.ok, failed: s.failed, errors: s.errors, maxConnectMs: s.maxConnectMs })))}`);
    for (const s of summaries) {
      assert.deepEqual(s.errors, {}, 'no connection failed across the restart');
      assert.equal(s.ok, s.opened);
      assert.ok(s.maxConnectMs >= 0.8 * (upAt - downAt) - 200, `a connect waited for the new proxy (longest ${s.maxConnectMs} ms, down ${upAt - downAt} ms)`);
    }
    runs.forEach((r, i) => assert.ok(r.connections.length > before[i]! + 20, 'the clients kept connecting through the new proxy'));
    void second;
    await stopProcess(second.process);
  });
});

interface Probe {
  end: string;
  received: number;
  head: string;
  /** From connect() to the end, measured by the probe itself (a hook's wait included, process start-up not). */
  ms: number;
}

/** One hooked connection (tcp-probe: sends 4 bytes and FIN, reads to the end) under a proxy-down policy. */
async function probe(pod: Pod, target: string, policy: string, timeoutMs: number): Promise<Probe> {
  const r = await pod.exec('node', [CLI, 'exec', '--on-proxy-down', policy, '--', 'node', path.join(APPS, 'tcp-probe.js'), target, '9000', '4', String(timeoutMs)], { env: cleanEnv() });
  return JSON.parse(r.stdout.trim()) as Probe;
}

test('with the real proxy down: closed refuses at once, wait:<ms> refuses after the bound, open connects directly; with the TPROXY fallback installed, open is captured and reaches a proxy that comes back', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'rldown' }, async (lab) => {
    const hookOnly = await lab.addPod('hookonly');
    const fallback = await lab.addPod('fallback');
    const server = await lab.addPod('server');
    await Promise.all([init(hookOnly, ['--outbound', 'hook']), init(fallback)]);
    await echoServer(server, [9000]);
    // The proxy runs, then stops: the policies are tried against a pod whose sidecar really went away.
    const proxy = await startProxy(hookOnly, ['--concurrency', '1']);
    const through = await probe(hookOnly, server.ipv4, 'closed', 3000);
    assert.equal(through.end, 'eof', `through the running proxy: ${JSON.stringify(through)}`);
    proxy.process.kill('SIGTERM');
    assert.equal(await proxy.exited, 0);

    const closed = await probe(hookOnly, server.ipv4, 'closed', 3000);
    t.diagnostic(`closed: ${JSON.stringify(closed)}`);
    assert.equal(closed.end, 'refused', 'closed: ECONNREFUSED');
    assert.equal(closed.received, 0);
    assert.ok(closed.ms < 500, `closed: refused at once (${closed.ms} ms)`);
    const waited = await probe(hookOnly, server.ipv4, 'wait:1500', 5000);
    t.diagnostic(`wait:1500: ${JSON.stringify(waited)}`);
    assert.equal(waited.end, 'refused', 'wait: ECONNREFUSED once the bound has passed');
    assert.ok(waited.ms >= 1500, `the hook waited the bound first (${waited.ms} ms)`);
    assert.ok(waited.ms < 4500, `… and not much longer (${waited.ms} ms)`);
    const open = await probe(hookOnly, server.ipv4, 'open', 3000);
    t.diagnostic(`open: ${JSON.stringify(open)}`);
    assert.equal(open.end, 'eof', 'open: connected directly to the server');
    assert.match(open.head, new RegExp(`^peer ${hookOnly.ipv4.replace(/\./g, '\\.')} \\d+\\n`), 'the server saw the client pod itself');
    assert.equal(await hookOnly.conntrackCount(), 0);

    // hook+tproxy (the default capture): `open` connects directly, and the TPROXY fallback captures that connection
    // too. With no proxy its SYN is dropped; the client's kernel retransmits it, and a proxy that comes back within
    // the connect timeout takes it (so the fallback also bridges a restart for `open`).
    const pending = probe(fallback, server.ipv4, 'open', 8000);
    const synSent = await settle(
      async () => (await fallback.exec('ss', ['-tnH', 'state', 'syn-sent', `( dst ${server.ipv4} and dport = :9000 )`])).stdout.trim(),
      (out) => out !== '',
      10_000,
      20,
    );
    assert.notEqual(synSent, '', 'the direct connect is waiting for an answer to its SYN (dropped: no proxy yet)');
    const late = await startProxy(fallback, ['--concurrency', '1']);
    const bridged = await pending;
    t.diagnostic(`open with the TPROXY fallback, proxy started once the SYN was pending: ${JSON.stringify(bridged)}`);
    assert.equal(bridged.end, 'eof', 'the retransmitted SYN reached the new proxy');
    assert.ok(bridged.ms >= 900, `the SYN waited for a retransmission (${bridged.ms} ms)`);
    assert.equal(await fallback.conntrackCount(), 0);
    await stopProcess(late.process);
  });
});

interface RequestRecord {
  i: number;
  sent: number;
  done: number;
  status?: number;
  name?: string;
  error?: string;
}

interface SteadyRun {
  readonly requests: RequestRecord[];
  readonly done: Promise<{ issued: number; statuses: Record<string, number>; errors: Record<string, number>; names: Record<string, number> }>;
  stop(): void;
}

/** test/support/apps/http-steady in `pod` (hooked through `sidelane exec` with `hookArgs` when given), every request logged. */
function steadyHttp(pod: Pod, url: string, args: readonly string[], hookArgs?: readonly string[]): SteadyRun {
  const app = [path.join(APPS, 'http-steady.js'), url, '--log', ...args];
  const child = pod.spawn('node', hookArgs ? [CLI, 'exec', ...hookArgs, '--', 'node', ...app] : app, { env: cleanEnv() });
  const requests: RequestRecord[] = [];
  let summary: Awaited<SteadyRun['done']> | undefined;
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    const m = JSON.parse(line) as { type: string };
    if (m.type === 'request') requests.push(m as unknown as RequestRecord);
    else if (m.type === 'summary') summary = m as unknown as Awaited<SteadyRun['done']>;
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Awaited<SteadyRun['done']>>((resolve, reject) =>
    child.once('exit', (code) => (summary ? resolve(summary) : reject(new Error(`http-steady exited ${code}: ${stderr}`)))),
  );
  return { requests, done, stop: () => void child.stdin?.write('stop\n') };
}

/** Request numbers the app received, per path prefix (http-echo with HTTP_ECHO_LOG: `request <name> <url>`). */
function receivedBy(app: ChildProcess): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  readline.createInterface({ input: app.stdout! }).on('line', (line) => {
    const m = /^request \S+ \/(\w+)\?.*\bi=(\d+)/.exec(line);
    if (!m) return;
    const list = seen.get(m[1]!) ?? [];
    list.push(Number(m[2]));
    seen.set(m[1]!, list);
  });
  return seen;
}

/**
 * The drain's promise, counted exactly: every request that reached the app was answered 200 (once), every request
 * that failed never reached the app, nothing else happened (no 5xx, no other status), and the requests in flight
 * when the signal came completed.
 */
function checkDrain(t: { diagnostic(m: string): void }, what: string, requests: readonly RequestRecord[], received: readonly number[], signalAt: number): void {
  const ok = requests.filter((r) => r.status === 200);
  const failed = requests.filter((r) => r.error !== undefined);
  const other = requests.filter((r) => r.error === undefined && r.status !== 200);
  const inFlight = requests.filter((r) => r.sent < signalAt && r.done >= signalAt);
  const failedBefore = failed.filter((r) => r.sent < signalAt);
  const errorKinds: Record<string, number> = {};
  for (const r of failed) errorKinds[r.error!] = (errorKinds[r.error!] ?? 0) + 1;
  t.diagnostic(
    `${what}: ${requests.length} requests, ${ok.length} × 200 (${ok.filter((r) => r.sent >= signalAt).length} issued after the signal), ${failed.length} failed ${JSON.stringify(errorKinds)} ` +
      `(${failedBefore.length} of them issued before it), ${inFlight.length} in flight at the signal (${inFlight.filter((r) => r.status === 200).length} × 200); the app received ${received.length}`,
  );
  assert.deepEqual(other, [], `${what}: no status other than 200`);
  assert.equal(new Set(received).size, received.length, `${what}: no request reached the app twice`);
  assert.deepEqual([...received].sort((a, b) => a - b), ok.map((r) => r.i).sort((a, b) => a - b), `${what}: the app received exactly the requests answered 200`);
  const reachedButFailed = failed.filter((r) => received.includes(r.i));
  assert.deepEqual(reachedButFailed, [], `${what}: a failed request never reached the app`);
  assert.ok(ok.filter((r) => r.done < signalAt).length > 150, `${what}: a steady load before the signal`);
  assert.ok(inFlight.length > 0, `${what}: requests were in flight when the signal came`);
  assert.ok(inFlight.filter((r) => r.status === 200).length > 0, `${what}: requests in flight at the signal completed`);
}

test('SIGTERM under a steady keep-alive HTTP load, outbound and inbound sidecar: every request completes with 200 or never reaches the app', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'rldrain' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    // Hook only in the client pod: in the inbound phase the plain client reaches the server's sidecar directly.
    await Promise.all([init(client, ['--outbound', 'hook']), init(server)]);
    const app = await httpEcho(server, ['8080:web'], { log: true });
    const received = receivedBy(app);
    const dir = os.tmpdir();
    const clientConfig = path.join(dir, `${lab.id}-client.yaml`);
    const serverConfig = path.join(dir, `${lab.id}-server.yaml`);
    writeFileSync(clientConfig, `services:\n  - host: web.test.svc.cluster.local\n    addresses: [198.19.4.10]\n    ports: [{port: 8080, protocol: HTTP}]\n    endpoints: [{address: ${server.ipv4}}]\n`);
    writeFileSync(serverConfig, 'inbound:\n  ports: [{port: 8080, protocol: HTTP}]\n');
    const serverProxy = await startProxy(server, ['--concurrency', '2', '--config', serverConfig]);
    const clientProxy = await startProxy(client, ['--concurrency', '2', '--config', clientConfig]);
    // 100 requests/s of 30 ms each over up to 32 keep-alive connections: steady, never saturated on a busy machine.
    const load = ['--rate', '100', '--connections', '32', '--timeout-ms', '3000', '--duration-ms', '60000'];

    // Outbound: hooked client → client sidecar (SIGTERM) → server sidecar → app. `closed`: once the sidecar is gone
    // new connects fail at once (never sent) instead of waiting for a proxy that is not coming back.
    const outbound = steadyHttp(client, 'http://198.19.4.10:8080/out?delay=30', load, ['--on-proxy-down', 'closed']);
    // The load is steady once a few seconds of it have completed (a busy machine starts the client slowly).
    await settle(() => outbound.requests.filter((r) => r.status === 200).length, (n) => n >= 200, 30_000);
    const outSignal = Date.now();
    clientProxy.process.kill('SIGTERM');
    assert.equal(await clientProxy.exited, 0, clientProxy.stderr());
    await sleep(500);
    outbound.stop();
    await outbound.done;
    checkDrain(t, 'outbound drain', outbound.requests, received.get('out') ?? [], outSignal);

    // Inbound: plain client → server sidecar (SIGTERM) → app.
    const inbound = steadyHttp(client, `http://${server.ipv4}:8080/in?delay=30`, load);
    await settle(() => inbound.requests.filter((r) => r.status === 200).length, (n) => n >= 200, 30_000);
    const inSignal = Date.now();
    serverProxy.process.kill('SIGTERM');
    assert.equal(await serverProxy.exited, 0, serverProxy.stderr());
    await sleep(500);
    inbound.stop();
    await inbound.done;
    checkDrain(t, 'inbound drain', inbound.requests, received.get('in') ?? [], inSignal);
  });
});

/** The client sidecar's configuration for the reload test: HTTP to subset `subset`, TCP to the echo server on `tcpPort`. */
function reloadConfig(server: string, subset: 'v1' | 'v2', tcpPort: number): string {
  return `services:
  - host: web.test.svc.cluster.local
    addresses: [198.19.5.10]
    ports: [{port: 80, protocol: HTTP}]
    endpoints:
      - {address: ${server}, port: 8081, labels: {version: v1}}
      - {address: ${server}, port: 8082, labels: {version: v2}}
    subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
  - host: tcp.test.svc.cluster.local
    addresses: [198.19.5.11]
    ports: [{port: 9000, protocol: TCP}]
    endpoints: [{address: ${server}, port: ${tcpPort}}]
routes:
  - host: web.test.svc.cluster.local
    http: [{route: [{subset: ${subset}}]}]
`;
}

test('reloads (SIGHUP and file change, one refused) under steady HTTP and TCP load: no error, each new route takes effect', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'rlreload' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    await init(client);
    await httpEcho(server, ['8081:v1', '8082:v2']);
    await echoServer(server, [9001], { name: 'a' });
    await echoServer(server, [9002], { name: 'b' });
    // live/mesh.yaml is a symlink into store/: writing the file it points to is invisible to the watcher on live/ (a
    // SIGHUP round), swapping the symlink is a file change in live/ (a file round) — each trigger alone.
    const base = path.join(os.tmpdir(), `${lab.id}-reload`);
    mkdirSync(path.join(base, 'live'), { recursive: true });
    mkdirSync(path.join(base, 'store'), { recursive: true });
    const live = path.join(base, 'live', 'mesh.yaml');
    writeFileSync(path.join(base, 'store', 'v0.yaml'), reloadConfig(server.ipv4, 'v1', 9001));
    symlinkSync(path.join(base, 'store', 'v0.yaml'), live);
    const proxy = await startProxy(client, ['--concurrency', '2', '--config', live]);
    const applied = async (): Promise<Record<string, number>> => {
      const s = await stats(client, 'config_reloads_total');
      return Object.fromEntries(Object.entries(s).map(([k, v]) => [k.replace('sidelane.config_reloads_total.', ''), v]));
    };

    const http = steadyHttp(client, 'http://198.19.5.10/r', ['--rate', '50', '--connections', '8', '--timeout-ms', '5000', '--duration-ms', '120000'], []);
    const tcp = startChurn(client, ['--target', '198.19.5.11:9000', '--connections', '20', '--rate', '40', '--duration-ms', '120000', '--log-connections']);
    await sleep(1500);

    const rounds: { trigger: 'signal' | 'file'; subset: 'v1' | 'v2'; tcpPort: number; invalid?: boolean }[] = [
      { trigger: 'signal', subset: 'v2', tcpPort: 9002 },
      { trigger: 'file', subset: 'v1', tcpPort: 9001 },
      { trigger: 'file', subset: 'v1', tcpPort: 9001, invalid: true },
      { trigger: 'signal', subset: 'v2', tcpPort: 9001 },
      { trigger: 'file', subset: 'v2', tcpPort: 9002 },
      { trigger: 'signal', subset: 'v1', tcpPort: 9002 },
    ];
    let expected = { subset: 'v1', tcpPort: 9001 };
    const counts: Record<string, number> = { 'applied.signal': 0, 'applied.file': 0, 'refused.file': 0 };
    for (const [i, round] of rounds.entries()) {
      const text = round.invalid ? 'services:\n  - host: web.test.svc.cluster.local\n    ports: [{port: 0}]\n' : reloadConfig(server.ipv4, round.subset, round.tcpPort);
      if (round.trigger === 'signal') {
        const target = readlinkSync(live);
        writeFileSync(`${target}.tmp`, text);
        renameSync(`${target}.tmp`, target);
        proxy.process.kill('SIGHUP');
      } else {
        const target = path.join(base, 'store', `v${i + 1}.yaml`);
        writeFileSync(target, text);
        symlinkSync(target, `${live}.new`);
        renameSync(`${live}.new`, live);
      }
      const key = `${round.invalid ? 'refused' : 'applied'}.${round.trigger}`;
      counts[key] = (counts[key] ?? 0) + 1;
      // Every worker (2) has applied (or refused) it.
      const seen = await settle(applied, (a) => (a[key] ?? 0) === 2 * counts[key]!);
      assert.equal(seen[key], 2 * counts[key]!, `round ${i + 1} (${key}): ${JSON.stringify(seen)}`);
      const at = Date.now();
      if (!round.invalid) expected = { subset: round.subset, tcpPort: round.tcpPort };
      await sleep(1500);
      // From the moment every worker had it, new requests and new connections follow the new route.
      const after = http.requests.filter((r) => r.sent > at + 50);
      assert.ok(after.length >= 20, `round ${i + 1}: requests kept flowing (${after.length})`);
      const names = [...new Set(after.map((r) => r.name ?? r.error ?? String(r.status)))];
      assert.deepEqual(names, [expected.subset], `round ${i + 1}: HTTP requests after the reload went to ${expected.subset}`);
      const echoName = expected.tcpPort === 9001 ? 'a' : 'b';
      const conns = tcp.connections.filter((c) => c.t > at + 200);
      assert.ok(conns.length >= 10, `round ${i + 1}: TCP connections kept opening (${conns.length})`);
      assert.deepEqual([...new Set(conns.map((c) => c.server))], [echoName], `round ${i + 1}: TCP connections after the reload went to ${echoName}`);
    }
    http.stop();
    tcp.stop();
    const [h, c] = await Promise.all([http.done, tcp.done]);
    t.diagnostic(`HTTP ${JSON.stringify(h)}; TCP ${JSON.stringify({ opened: c.opened, ok: c.ok, failed: c.failed, errors: c.errors, servers: c.servers })}`);
    assert.deepEqual(h.errors, {}, 'no HTTP request failed');
    assert.deepEqual(Object.keys(h.statuses), ['200'], 'every HTTP request was answered 200');
    assert.equal(h.statuses['200'], h.issued);
    assert.deepEqual(c.errors, {}, 'no TCP connection failed');
    assert.equal(c.ok, c.opened);
    assert.match(proxy.stderr(), /config reload refused \(file\)/);
  });
});

/** Which worker (pid) holds each established proxy socket whose peer port is in `ports`, from `ss -tnp` in the pod. */
async function workerOfPort(pod: Pod, workers: readonly number[], filter: string): Promise<Map<number, number>> {
  const r = await pod.exec('ss', ['-tnpH', 'state', 'established', filter]);
  const out = new Map<number, number>();
  for (const line of r.stdout.split('\n')) {
    const m = /\S+:(\d+)\s+\S+:(\d+)\s+users:\(\("[^"]*",pid=(\d+)/.exec(line.trim().replace(/^\d+\s+\d+\s+/, ''));
    if (!m) continue;
    const pid = Number(m[3]);
    if (workers.includes(pid)) out.set(Number(m[2]), pid);
  }
  return out;
}

/**
 * Kills one worker of `pod`'s sidecar while `holder` holds connections through it: exactly the connections that
 * worker carried fail, every other one keeps exchanging bytes, a replacement starts, new connections succeed.
 */
async function killOneWorker(t: { diagnostic(m: string): void }, what: string, pod: Pod, holder: Holder, ssFilter: string): Promise<void> {
  const before = await serverInfo(pod);
  const workers = before.workers.map((w) => w.pid);
  const { ports } = await holder.send<{ ports: number[] }>('ports');
  const owner = await workerOfPort(pod, workers, ssFilter);
  assert.equal(ports.filter((p) => owner.has(p)).length, ports.length, `${what}: every held connection is found in a worker (${owner.size} of ${ports.length})`);
  const victim = workers[0]!;
  const survivor = workers[1]!;
  const doomed = ports.filter((p) => owner.get(p) === victim).sort((a, b) => a - b);
  assert.ok(doomed.length > 0 && doomed.length < ports.length, `${what}: both workers carry connections (${doomed.length} of ${ports.length} on the victim)`);
  const survivorSockets = fdKinds(survivor).socket;
  process.kill(victim, 'SIGKILL');
  const pinged = await holder.send<PingResult>('ping');
  t.diagnostic(`${what}: killed worker ${victim} carrying ${doomed.length} of ${ports.length} connections; ping after: ${pinged.ok} ok, ${pinged.failed} failed`);
  assert.deepEqual([...pinged.failedPorts].sort((a, b) => a - b), doomed, `${what}: exactly the killed worker's connections failed`);
  await holder.send('prune');
  for (let i = 0; i < 3; i++) {
    const again = await holder.send<PingResult>('ping');
    assert.deepEqual({ ok: again.ok, failed: again.failed }, { ok: ports.length - doomed.length, failed: 0 }, `${what}: the other worker's connections keep exchanging bytes`);
  }
  assert.equal(fdKinds(survivor).socket, survivorSockets, `${what}: the surviving worker was not disturbed (same sockets)`);
  const after = await settle(
    () => serverInfo(pod),
    (s) => s.workers.length === 2 && s.workers.every((w) => w.ready) && s.workers[0]!.pid !== victim,
  );
  assert.notEqual(after.workers[0]!.pid, victim, `${what}: a replacement worker started`);
  assert.equal(after.workers[0]!.restarts, 1);
  assert.equal(after.workers[1]!.pid, survivor, `${what}: the other worker is the same process`);
  const fresh = await holder.send<OpenResult>('burst 40');
  assert.deepEqual({ opened: fresh.opened, failed: fresh.failed }, { opened: 40, failed: 0 }, `${what}: new connections succeed`);
  const spread = await workerOfPort(pod, after.workers.map((w) => w.pid), ssFilter);
  const newOnReplacement = [...spread.values()].filter((p) => p === after.workers[0]!.pid).length;
  assert.ok(newOnReplacement > 0, `${what}: the replacement takes new connections (${newOnReplacement} of 40)`);
  const final = await holder.send<PingResult>('ping');
  assert.equal(final.failed, 0, `${what}: old and new connections all exchange bytes`);
}

test('a killed worker loses exactly its own connections, inbound and outbound: the other keeps exchanging bytes, a replacement takes new ones', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'rlkill' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    // Hook only in the client pod: the plain holder reaches the server's sidecar directly.
    await Promise.all([init(client, ['--outbound', 'hook']), init(server)]);
    await echoServer(server, [9000]);
    await startProxy(server, ['--concurrency', '2']);
    await startProxy(client, ['--concurrency', '2']);

    // Inbound: a plain client → server sidecar (TPROXY) → app; the worker's accepted sockets are server:9000 ↔ client.
    const plain = new Holder(client.spawn('node', [path.join(APPS, 'conn-holder.js'), server.ipv4, '9000'], { env: cleanEnv() }));
    await plain.ready();
    assert.equal((await plain.send<OpenResult>('burst 120')).failed, 0);
    await killOneWorker(t, 'inbound', server, plain, `( sport = :9000 and dst ${client.ipv4} )`);

    // Outbound: a hooked client → client sidecar → server; the worker's accepted sockets are 127.x.y.z:15001 ↔ hook.
    const hooked = new Holder(client.spawn('node', [CLI, 'exec', '--', 'node', path.join(APPS, 'conn-holder.js'), server.ipv4, '9000'], { env: cleanEnv() }));
    await hooked.ready();
    assert.equal((await hooked.send<OpenResult>('burst 120')).failed, 0);
    await killOneWorker(t, 'outbound', client, hooked, '( sport = :15001 )');
  });
});
