/**
 * Issue 10, security: the proxy's listeners are not an open relay. A connection from another pod straight to the
 * pod's 15001 or 15006 (IPv4 and IPv6, with or without a crafted PROXY v2 header) and a connection another pod
 * routes *through* this pod towards a third address are refused, counted in sidelane_listener_refused_total, and
 * the proxy never connects anywhere for them — a recording server in a third pod sees nothing, and the proxy's
 * upstream connection counters stay put. Controls show each refused path works for legitimate traffic.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { echoServer, init, startProxy } from '../../support/mesh';
import { scrape, sum } from '../../support/prometheus';

/** What a client saw: the server's first line, or how the connection ended. */
type Outcome = 'reset' | 'eof' | 'refused' | 'timeout' | `data:${string}`;

/** Connects from `pod` to host:port, sends `payload` (a Python bytes expression) and reports the outcome. */
async function probe(pod: Pod, host: string, port: number, payload = "b'hello\\n'"): Promise<Outcome> {
  const script = `
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
except ConnectionRefusedError:
    print('refused'); sys.exit(0)
except ConnectionResetError:
    print('reset'); sys.exit(0)
except socket.timeout:
    print('timeout'); sys.exit(0)
try:
    s.sendall(${payload})
    r = s.recv(200)
    print('eof' if r == b'' else 'data:' + r.decode(errors='replace').split('\\n')[0])
except (ConnectionResetError, BrokenPipeError):
    print('reset')
except socket.timeout:
    print('timeout')`;
  const r = await pod.exec('python3', ['-c', script, host, String(port)], { timeoutMs: 20_000 });
  return r.stdout.trim() as Outcome;
}

/** A PROXY v2 header (Python bytes expression) claiming a connection to dst:dport. */
function proxyHeader(family: 4 | 6, src: string, dst: string, dport: number): string {
  const sig = "b'\\r\\n\\r\\n\\x00\\r\\nQUIT\\n'";
  const af = family === 4 ? 'socket.AF_INET' : 'socket.AF_INET6';
  const fam = family === 4 ? "b'\\x21\\x11\\x00\\x0c'" : "b'\\x21\\x21\\x00\\x24'";
  return `${sig} + ${fam} + socket.inet_pton(${af}, '${src}') + socket.inet_pton(${af}, '${dst}') + (40000).to_bytes(2, 'big') + (${dport}).to_bytes(2, 'big') + b'hello\\n'`;
}

interface Counters {
  refused: Record<string, number>;
  upstreamCx: number;
  accepted: number;
}

async function counters(pod: Pod): Promise<Counters> {
  const samples = await scrape(pod);
  const refused: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== 'sidelane_listener_refused_total') continue;
    const key = `${s.labels.listener}/${s.labels.reason}`;
    refused[key] = (refused[key] ?? 0) + s.value;
  }
  return { refused, upstreamCx: sum(samples, 'envoy_cluster_upstream_cx_total'), accepted: sum(samples, 'sidelane_capture_connections_total') };
}

function delta(before: Counters, after: Counters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.refused)) if (v !== (before.refused[k] ?? 0)) out[k] = v - (before.refused[k] ?? 0);
  return out;
}

const settle = (ms = 300): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The attacker and the recorder reach each other only through the victim pod (both directions, IPv4 and IPv6). */
async function routeThrough(victim: Pod, attacker: Pod, recorder: Pod): Promise<void> {
  await attacker.exec('ip', ['route', 'add', `${recorder.ipv4}/32`, 'via', victim.ipv4]);
  await attacker.exec('ip', ['-6', 'route', 'add', `${recorder.ipv6!}/128`, 'via', victim.ipv6!]);
  await recorder.exec('ip', ['route', 'add', `${attacker.ipv4}/32`, 'via', victim.ipv4]);
  await recorder.exec('ip', ['-6', 'route', 'add', `${attacker.ipv6!}/128`, 'via', victim.ipv6!]);
}

test('15001 and 15006 refuse other pods, honour no PROXY header from them, and relay nothing routed through the pod', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'secrly', ipv6: true }, async (lab) => {
    const victim = await lab.addPod('victim');
    const attacker = await lab.addPod('attacker');
    const recorder = await lab.addPod('recorder');
    await init(victim);
    await startProxy(victim);
    await echoServer(victim, [8080]);
    const recorded: string[] = [];
    const rec = await echoServer(recorder, [9000], { log: true });
    rec.stdout?.on('data', (d: Buffer) => recorded.push(...d.toString().split('\n').filter((l) => l.startsWith('conn '))));

    const esc = (a: string): string => a.replace(/[.:]/g, (c) => `\\${c}`);

    await t.test('control: legitimate inbound (through the proxy) and the recorder answer', async () => {
      assert.match(await probe(attacker, victim.ipv4, 8080), new RegExp(`^data:peer ${esc(attacker.ipv4)} \\d+$`));
      assert.match(await probe(attacker, victim.ipv6!, 8080), new RegExp(`^data:peer ${esc(attacker.ipv6!)} \\d+$`));
      assert.match(await probe(attacker, recorder.ipv4, 9000), /^data:peer /);
      for (let i = 0; i < 20 && recorded.length < 1; i++) await settle(50);
      assert.equal(recorded.length, 1, 'the recorder logs a connection (so its silence below means something)');
      recorded.length = 0;
    });

    await t.test('inside the pod, loopback connections to 15001 without a valid PROXY v2 header are refused and counted (IPv4, IPv6)', async () => {
      const before = await counters(victim);
      const sig = "b'\\r\\n\\r\\n\\x00\\r\\nQUIT\\n'";
      for (const host of ['127.0.0.9', '::1']) {
        for (const payload of ["b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'", `${sig} + b'\\x31\\x11\\x00\\x0c' + bytes(12)`, `${sig} + b'\\x21\\x11\\xff\\xff'`]) {
          const o = await probe(victim, host, 15001, payload);
          assert.ok(o === 'reset' || o === 'eof', `[${host}]:15001 with ${payload}: expected a refusal, got ${o}`);
        }
      }
      await settle();
      const after = await counters(victim);
      const refused = Object.entries(delta(before, after));
      assert.ok(refused.every(([k]) => /^outbound\/proxy_header_/.test(k)), `refusals are counted as bad headers: ${JSON.stringify(refused)}`);
      assert.equal(refused.reduce((n, [, v]) => n + v, 0), 6, `six refusals counted: ${JSON.stringify(refused)}`);
      assert.equal(after.upstreamCx, before.upstreamCx, 'the proxy opened no upstream connection');
      assert.equal(after.accepted, before.accepted, 'nothing was dispatched to routing');
    });

    await t.test('direct connections from another pod to 15001 and 15006 (IPv4, IPv6) are refused and counted', async () => {
      const before = await counters(victim);
      for (const host of [victim.ipv4, victim.ipv6!]) {
        for (const port of [15001, 15006]) {
          const o = await probe(attacker, host, port);
          assert.ok(o === 'reset' || o === 'eof', `${host}:${port} from another pod: expected a refusal, got ${o}`);
        }
      }
      await settle();
      const after = await counters(victim);
      assert.deepEqual(delta(before, after), { 'outbound/direct_to_listener': 2, 'inbound/direct_to_listener': 2 });
      assert.equal(after.upstreamCx, before.upstreamCx, 'the proxy opened no upstream connection');
      assert.equal(after.accepted, before.accepted, 'nothing was dispatched to routing');
    });

    await t.test("a crafted PROXY v2 header from another pod to 15001 is not honoured (the recorder sees nothing)", async () => {
      const before = await counters(victim);
      const v4 = await probe(attacker, victim.ipv4, 15001, proxyHeader(4, '127.0.0.1', recorder.ipv4, 9000));
      const v6 = await probe(attacker, victim.ipv6!, 15001, proxyHeader(6, '::1', recorder.ipv6!, 9000));
      assert.ok(['reset', 'eof'].includes(v4) && ['reset', 'eof'].includes(v6), `expected refusals, got ${v4} / ${v6}`);
      await settle(500);
      assert.deepEqual(recorded, [], 'the recorder must see no connection');
      const after = await counters(victim);
      assert.deepEqual(delta(before, after), { 'outbound/direct_to_listener': 2 });
      assert.equal(after.upstreamCx, before.upstreamCx, 'the proxy opened no upstream connection');
    });

    await t.test('a connection routed through the pod towards a third address is refused, not relayed (IPv4, IPv6)', async () => {
      // The attacker uses the victim as its gateway to the recorder; the recorder answers the attacker through the
      // victim too, so a relayed connection would complete and be seen.
      await routeThrough(victim, attacker, recorder);
      const before = await counters(victim);
      const v4 = await probe(attacker, recorder.ipv4, 9000);
      const v6 = await probe(attacker, recorder.ipv6!, 9000);
      await settle(500);
      assert.deepEqual(recorded, [], `the recorder must see no connection (attacker saw ${v4} / ${v6})`);
      assert.ok(['reset', 'eof', 'refused', 'timeout'].includes(v4) && ['reset', 'eof', 'refused', 'timeout'].includes(v6), `expected refusals, got ${v4} / ${v6}`);
      const after = await counters(victim);
      assert.deepEqual(delta(before, after), { 'inbound/not_local_destination': 2 });
      assert.equal(after.upstreamCx, before.upstreamCx, 'the proxy opened no upstream connection');
    });
    assert.equal(await victim.conntrackCount(), 0);
  });
});

test('under the REDIRECT baseline too, a connection routed through the pod is refused, not relayed', { timeout: 90_000 }, async (t) => {
  await withLab(t, { prefix: 'secrdr', ipv6: true }, async (lab) => {
    const victim = await lab.addPod('victim');
    const attacker = await lab.addPod('attacker');
    const recorder = await lab.addPod('recorder');
    await init(victim, ['--mode', 'redirect']);
    await startProxy(victim, ['--capture-mode', 'redirect']);
    await echoServer(victim, [8080]);
    const recorded: string[] = [];
    const rec = await echoServer(recorder, [9000], { log: true });
    rec.stdout?.on('data', (d: Buffer) => recorded.push(...d.toString().split('\n').filter((l) => l.startsWith('conn '))));
    // Control: inbound through the REDIRECT capture reaches the app (from 127.0.0.6, Istio's passthrough source).
    assert.match(await probe(attacker, victim.ipv4, 8080), /^data:peer 127\.0\.0\.6 \d+$/);
    await routeThrough(victim, attacker, recorder);
    const before = await counters(victim);
    const v4 = await probe(attacker, recorder.ipv4, 9000);
    const v6 = await probe(attacker, recorder.ipv6!, 9000);
    t.diagnostic(`attacker saw ${v4} / ${v6}`);
    await settle(500);
    assert.deepEqual(recorded, [], 'the recorder must see no connection');
    const after = await counters(victim);
    assert.deepEqual(delta(before, after), { 'inbound/not_local_destination': 2 });
    assert.equal(after.upstreamCx, before.upstreamCx, 'the proxy opened no upstream connection');
  });
});
