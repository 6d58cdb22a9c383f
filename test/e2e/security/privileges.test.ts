/**
 * Issue 10, security: the proxy keeps only what it needs after start-up. `sidelane run` started by root (with and
 * without `--user 1337`) and by an unprivileged user holding extra ambient capabilities ends with CapEff = CapPrm =
 * CapInh = CapAmb = CAP_NET_ADMIN, the bounding set reduced when it could be, no_new_privs, and the user asked for —
 * in the supervisor, in every worker and in every thread of each (read from /proc/<pid>/task/<tid>/status). Then
 * everything still works with those credentials: inbound with the client's address preserved (a transparent bind),
 * hooked and TPROXY'd outbound, the admin API, a configuration reload, and a killed worker's replacement (which
 * must join the SO_REUSEPORT group of its siblings as the same user).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Pod } from '../../../src/netns/lab';
import { capabilityNames, parseProcStatus, readCredentials, type ProcessCredentials } from '../../../src/sidecar/privileges';
import { withLab } from '../../support/netns';
import { CLI, cleanEnv, echoServer, execHooked, init, startProxy, type RunningProxy } from '../../support/mesh';

const NET_ADMIN = 0x1000n;
/** The bounding set this test runs with (what an unprivileged process cannot shrink). */
const START_BOUNDING = readCredentials('self').bounding;

interface ServerInfo {
  workers: { index: number; pid: number; ready: boolean; restarts: number; privileges?: string }[];
  privileges?: string;
}

async function serverInfo(pod: Pod): Promise<ServerInfo> {
  return JSON.parse((await pod.exec('curl', ['-sS', '--max-time', '5', 'http://127.0.0.1:15000/server_info'])).stdout) as ServerInfo;
}

/** Every thread of the process: its credentials (they are per thread in Linux). */
async function threads(pod: Pod, pid: number): Promise<ProcessCredentials[]> {
  const r = await pod.sh(`for t in /proc/${pid}/task/*; do cat $t/status; echo ---; done`);
  return r.stdout.split('---\n').filter((s) => s.includes('CapEff')).map(parseProcStatus);
}

async function assertReduced(pod: Pod, pid: number, what: string, id: number, bounding: bigint, groups: number[] = []): Promise<void> {
  const all = await threads(pod, pid);
  assert.ok(all.length >= 2, `${what}: read its threads`);
  for (const c of all) {
    assert.deepEqual(c.uid, [id, id, id, id], `${what}: uid`);
    assert.deepEqual(c.gid, [id, id, id, id], `${what}: gid`);
    assert.deepEqual(
      { eff: c.effective, prm: c.permitted, inh: c.inheritable, amb: c.ambient, bnd: c.bounding, nnp: c.noNewPrivs },
      { eff: NET_ADMIN, prm: NET_ADMIN, inh: NET_ADMIN, amb: NET_ADMIN, bnd: bounding, nnp: true },
      `${what}: capability sets of every thread`,
    );
  }
  if (id !== 0) assert.deepEqual(all[0]!.groups, groups, `${what}: supplementary groups`);
}

async function assertAllReduced(pod: Pod, proxy: RunningProxy, id: number, bounding: bigint, groups: number[] = []): Promise<ServerInfo> {
  const info = await serverInfo(pod);
  await assertReduced(pod, proxy.process.pid!, 'the supervisor', id, bounding, groups);
  for (const w of info.workers) await assertReduced(pod, w.pid, `worker ${w.index}`, id, bounding, groups);
  return info;
}

/** From `from`, a connection to host:port: the echo server's first line (`peer <address> <port>`). */
async function firstLine(from: Pod, host: string, port: number, hooked = false): Promise<string> {
  const py = ['python3', '-c', `import socket; s = socket.create_connection(('${host}', ${port}), timeout=5); print(s.makefile().readline().strip())`];
  return (hooked ? await execHooked(from, py) : (await from.exec(py[0]!, py.slice(1), { env: cleanEnv() })).stdout).trim();
}

const peerOf = (line: string): string => line.split(' ')[1] ?? '';

test('root with --user 1337: supervisor, workers and all their threads keep only NET_ADMIN; inbound, outbound, admin, reload and a worker restart work', { timeout: 90_000 }, async (t) => {
  await withLab(t, { prefix: 'secpriv' }, async (lab) => {
    const pod = await lab.addPod('proxy');
    const peer = await lab.addPod('peer');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sidelane-priv-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, 0o755);
    const config = path.join(dir, 'config.yaml');
    writeFileSync(config, 'workload: {name: sec-v1, namespace: default}\n', { mode: 0o644 });
    await init(pod);
    const proxy = await startProxy(pod, ['--user', '1337', '--config', config]);
    assert.match(proxy.stderr(), /listening .*, uid 1337 gid 1337, capabilities cap_net_admin \(the same bounding set\), no_new_privs$/m);
    await echoServer(pod, [8080]);
    await echoServer(peer, [9000]);

    const info = await assertAllReduced(pod, proxy, 1337, NET_ADMIN);
    assert.equal(info.privileges, 'uid 1337 gid 1337, capabilities cap_net_admin (the same bounding set), no_new_privs');
    assert.ok(info.workers.every((w) => w.privileges === info.privileges), JSON.stringify(info.workers));

    // Inbound with the client's address preserved: the proxy binds the peer's address (IP_TRANSPARENT) towards the app.
    assert.equal(peerOf(await firstLine(peer, pod.ipv4, 8080)), peer.ipv4);
    // Outbound: hooked and TPROXY'd, the upstream carries the bypass mark (SO_MARK).
    assert.equal(peerOf(await firstLine(pod, peer.ipv4, 9000, true)), pod.ipv4);
    assert.equal(peerOf(await firstLine(pod, peer.ipv4, 9000)), pod.ipv4);
    // Admin and reload.
    assert.equal((await pod.exec('curl', ['-sS', '-X', 'POST', 'http://127.0.0.1:15000/logging?level=debug'])).code, 0);
    writeFileSync(config, 'workload: {name: sec-v2, namespace: default}\n');
    const reload = await pod.exec('curl', ['-sS', '-w', '\n%{http_code}', '-X', 'POST', 'http://127.0.0.1:15000/reload']);
    assert.match(reload.stdout, /\n200$/, reload.stdout);
    assert.match((await pod.exec('curl', ['-sS', 'http://127.0.0.1:15000/config_dump'])).stdout, /sec-v2/);

    // A killed worker is replaced by one with the same credentials, which binds into its siblings' port group.
    const victim = info.workers[0]!;
    process.kill(victim.pid, 'SIGKILL');
    let replaced: ServerInfo | undefined;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const now = await serverInfo(pod);
      const w = now.workers.find((x) => x.index === victim.index);
      if (w && w.pid !== victim.pid && w.ready) {
        replaced = now;
        break;
      }
    }
    assert.ok(replaced, 'worker 0 was replaced and became ready');
    await assertAllReduced(pod, proxy, 1337, NET_ADMIN);
    for (let i = 0; i < 6; i++) assert.equal(peerOf(await firstLine(peer, pod.ipv4, 8080)), peer.ipv4, 'inbound through either worker');
    assert.equal(await pod.conntrackCount(), 0);
  });
});

test('root without --user stays uid 0 with only NET_ADMIN; a non-root start with extra ambient capabilities sheds them; --user without the right to switch is refused', { timeout: 90_000 }, async (t) => {
  await withLab(t, { prefix: 'secpr2' }, async (lab) => {
    const rootPod = await lab.addPod('root');
    const userPod = await lab.addPod('user');
    const peer = await lab.addPod('peer');
    await echoServer(peer, [9000]);

    await init(rootPod);
    const asRoot = await startProxy(rootPod);
    assert.match(asRoot.stderr(), /, uid 0 gid 0, capabilities cap_net_admin \(the same bounding set\), no_new_privs$/m);
    await assertAllReduced(rootPod, asRoot, 0, NET_ADMIN);
    assert.equal(peerOf(await firstLine(rootPod, peer.ipv4, 9000)), rootPod.ipv4, 'TPROXY outbound works as root with NET_ADMIN only');

    // Started as 1337 with NET_ADMIN, NET_RAW and SYS_ADMIN in the ambient set (systemd AmbientCapabilities= or a
    // container runtime can do this): the extras go; without CAP_SETPCAP the bounding set cannot shrink, and the
    // line says so. Without --user the identity is left as it is, supplementary group included.
    await init(userPod);
    await echoServer(userPod, [8080]);
    const setpriv = ['setpriv', '--reuid=1337', '--regid=1337', '--groups=4', '--inh-caps=+net_admin,+net_raw,+sys_admin', '--ambient-caps=+net_admin,+net_raw,+sys_admin'];
    const child = userPod.spawn(setpriv[0]!, [...setpriv.slice(1), process.execPath, CLI, 'run']);
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    for (let i = 0; i < 100 && !err.includes('listening'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(err, new RegExp(`, uid 1337 gid 1337, capabilities cap_net_admin \\(bounding set ${capabilityNames(START_BOUNDING).length} capabilities\\), no_new_privs$`, 'm'));
    await assertAllReduced(userPod, { process: child } as RunningProxy, 1337, START_BOUNDING, [4]);
    assert.equal(peerOf(await firstLine(peer, userPod.ipv4, 8080)), peer.ipv4, 'inbound with source preservation works');

    // --user to another user without CAP_SETUID/CAP_SETGID: one line, exit 1, nothing started.
    const refused = await userPod.exec('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'run', '--user', '1337', '--admin-port', '0', '--health-port', '0', '--metrics-port', '0'], { allowFailure: true, timeoutMs: 20_000 });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr.trim(), /^sidelane: --user 1337:1337: switching user needs CAP_SETUID and CAP_SETGID; start sidelane run as root, or as that user without --user$/);
    const bad = await userPod.exec(process.execPath, [CLI, 'run', '--user', 'istio-proxy'], { allowFailure: true, timeoutMs: 20_000 });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--user: expected UID or UID:GID/);
  });
});
