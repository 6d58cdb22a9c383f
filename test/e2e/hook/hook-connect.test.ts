/**
 * The connect() hook against the real kernel: compiles test/hook/hook_test.c with gcc, and runs it with
 * LD_PRELOAD=libsidelane_hook.so inside a lab pod (so a connection the hook wrongly left alone could never leave the
 * namespace). The program's own listener parses the PROXY v2 header the hook wrote, so each check is on real bytes.
 * Each subtest is one process with its own environment (the hook reads it once, at start).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { hookLibraryPath } from '../../../src/cli/commands/hook-path';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';

const root = process.env.SIDELANE_ROOT ?? path.resolve(__dirname, '../../../..');
const OUTBOUND_PORT = '16001';
const DIRECT_PORT = '18080';

function compile(dir: string): string {
  const bin = path.join(dir, 'hook_test');
  execFileSync('gcc', ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', bin, path.join(root, 'test/hook/hook_test.c'), '-ldl'], {
    stdio: 'pipe',
  });
  return bin;
}

/** The environment without anything SIDELANE_* or LD_PRELOAD from the test runner's own. */
function baseEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIDELANE_') && !k.startsWith('HOOK_TEST_') && k !== 'LD_PRELOAD'));
}

interface Run {
  readonly stdout: string;
  readonly stderr: string;
}

async function runCases(pod: Pod, bin: string, cases: string[], vars: Record<string, string>, prefix: string[] = []): Promise<Run> {
  const assignments = Object.entries({
    LD_PRELOAD: hookLibraryPath(),
    SIDELANE_OUTBOUND_PORT: OUTBOUND_PORT,
    HOOK_TEST_DIRECT_ADDR: pod.ipv4,
    HOOK_TEST_DIRECT_PORT: DIRECT_PORT,
    HOOK_TEST_DIRECT_ADDR6: pod.ipv6 ?? '',
    HOOK_TEST_DEVICE: 'eth0',
    ...vars,
  }).map(([k, v]) => `${k}=${v}`);
  const r = await pod.exec(prefix[0] ?? 'env', [...prefix.slice(1), ...(prefix.length ? ['env'] : []), ...assignments, bin, ...cases], {
    allowFailure: true,
    env: baseEnv(),
    timeoutMs: 120_000,
  });
  const failed = r.stdout.split('\n').find((l) => l.startsWith('FAIL'));
  assert.equal(failed, undefined, `${failed}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.equal(r.code, 0, `hook_test exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  for (const c of cases) assert.match(r.stdout, new RegExp(`^ok ${c}$`, 'm'), `case ${c} did not report ok:\n${r.stdout}`);
  for (const info of r.stdout.split('\n').filter((l) => l.startsWith('info '))) process.stdout.write(`# ${info}\n`);
  return { stdout: r.stdout, stderr: r.stderr };
}

test('connect() hook in a pod: redirection, semantics, exclusions, proxy-down policies, secure execution', { timeout: 300_000 }, async (t) => {
  await withLab(t, { prefix: 'slhk' }, async (lab) => {
    const pod = await lab.addPod('client');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sidelane-hook-test-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const bin = compile(dir);
    const cases =
      (names: string[], vars: Record<string, string> = {}) =>
      async (): Promise<void> => {
        await runCases(pod, bin, names, vars);
      };

    await t.test('blocking, non-blocking, repeated connect, errno, header fields, getpeername', cases(['blocking_v4', 'nonblocking_v4']));
    await t.test('EINTR under a SIGALRM storm (setitimer 50 µs), blocking and non-blocking', cases(['eintr']));
    await t.test(
      'EINTR during a slow handshake (full accept queue): the kernel says EINTR, the hooked connect still returns 0',
      cases(['eintr_slow'], { HOOK_TEST_LISTENER: 'none' }),
    );
    await t.test('IPv6 dual-stack, IPV6_V6ONLY → [::1], v4-mapped → TCP4', cases(['ipv6', 'v6only', 'v4mapped']));
    await t.test('destinations spread over 127.0.0.0/8', cases(['spread']));
    await t.test('UDP, AF_UNSPEC, AF_UNIX, loopback, short addrlen and bad fds pass through untouched', cases(['udp', 'unix', 'loopback', 'bad_args']));
    await t.test("the proxy's own ports are never redirected (default list)", cases(['proxy_port', 'redirected']));
    await t.test('close + fd reuse never gives a stale getpeername; AF_UNSPEC forgets', cases(['fd_reuse']));
    await t.test('32 threads × 500 connects: none lost, none crossed', cases(['threads']));
    await t.test('fork, fork+exec and vfork+exec children are hooked', cases(['fork', 'exec']));
    await t.test('TCP Fast Open: sendto/sendmsg(MSG_FASTOPEN), TCP_FASTOPEN_CONNECT', cases(['tfo']));
    await t.test('a source address bound before connect() (v4, v6) is kept and named in the header', cases(['bound_source']));
    await t.test('SO_BINDTODEVICE sockets (cannot reach lo) are left alone: a real direct connection', cases(['bound_device']));
    await t.test('the default outbound port is 15001', cases(['blocking_v4'], { SIDELANE_OUTBOUND_PORT: '' }));

    await t.test(
      'SIDELANE_EXCLUDE_CIDRS leaves matching destinations alone (a mixed v6/v4 list)',
      cases(['direct', 'redirected'], { SIDELANE_EXCLUDE_CIDRS: `2001:db8::/32, ${pod.ipv4}/32` }),
    );
    await t.test('SIDELANE_EXCLUDE_PORTS leaves matching ports alone (ranges)', cases(['direct', 'redirected'], { SIDELANE_EXCLUDE_PORTS: `22,18000-18100` }));
    await t.test('SIDELANE_INCLUDE_CIDRS redirects only what it lists', cases(['direct', 'redirected_vip'], { SIDELANE_INCLUDE_CIDRS: '198.19.0.0/16' }));
    await t.test('without exclusions the same destination is redirected (the exclusion tests can fail)', async () => {
      const r = await pod.exec('env', [`LD_PRELOAD=${hookLibraryPath()}`, `SIDELANE_OUTBOUND_PORT=${OUTBOUND_PORT}`, `HOOK_TEST_DIRECT_ADDR=${pod.ipv4}`, bin, 'direct'], {
        allowFailure: true,
        env: baseEnv(),
        timeoutMs: 30_000,
      });
      assert.match(r.stdout, /FAIL direct: .*expected a direct connection, got: HDR /);
    });
    await t.test('SIDELANE_DISABLE=1 makes the hook inert', cases(['direct'], { SIDELANE_DISABLE: '1' }));
    await t.test('an invalid setting makes the hook inert and says so on stderr', async () => {
      const r = await runCases(pod, bin, ['direct'], { SIDELANE_EXCLUDE_CIDRS: '10.0.0.0/33' });
      assert.match(r.stderr, /sidelane-hook\[\d+\]: SIDELANE_EXCLUDE_CIDRS: bad value "10.0.0.0\/33" .*; the hook is disabled in this process/);
    });
    await t.test('SIDELANE_HOOK_LOG=1: one line per decision', async () => {
      const r = await runCases(pod, bin, ['blocking_v4', 'loopback'], { SIDELANE_HOOK_LOG: '1' });
      assert.match(r.stderr, /^sidelane-hook\[\d+\]: active outbound_port=16001 on_proxy_down=wait:5000$/m);
      assert.match(r.stderr, /^sidelane-hook\[\d+\]: redirect fd=\d+ dst=198\.18\.9\.9:80 via=127\.\d+\.\d+\.\d+:16001$/m);
      assert.match(r.stderr, /^sidelane-hook\[\d+\]: pass fd=\d+ dst=127\.0\.0\.1:\d+ loopback$/m);
    });

    await t.test('proxy down, policy closed: ECONNREFUSED at once, socket reusable', cases(['down_closed'], { HOOK_TEST_LISTENER: 'none', SIDELANE_HOOK_ON_PROXY_DOWN: 'closed' }));
    await t.test('proxy down, policy wait: succeeds when the listener appears within the bound', cases(['down_wait'], { HOOK_TEST_LISTENER: 'delay:400', SIDELANE_HOOK_ON_PROXY_DOWN: 'wait:4000' }));
    await t.test('proxy down, policy wait: ECONNREFUSED once the bound has passed', cases(['down_wait_expires'], { HOOK_TEST_LISTENER: 'none', SIDELANE_HOOK_ON_PROXY_DOWN: 'wait:300' }));
    await t.test('proxy down, policy open: a real direct connection to the pod address (connect and TFO)', cases(['down_open'], { HOOK_TEST_LISTENER: 'none', SIDELANE_HOOK_ON_PROXY_DOWN: 'open' }));

    await t.test('setuid (secure execution): the hook ignores its environment and stays inert', async () => {
      // A setuid-root copy run by nobody: ld.so drops LD_PRELOAD, so the program dlopen()s the hook itself.
      const secureDir = mkdtempSync(path.join(os.tmpdir(), 'sidelane-hook-suid-'));
      t.after(() => rmSync(secureDir, { recursive: true, force: true }));
      chmodSync(secureDir, 0o755);
      const suid = path.join(secureDir, 'hook_test');
      const lib = path.join(secureDir, 'libsidelane_hook.so');
      copyFileSync(bin, suid);
      copyFileSync(hookLibraryPath(), lib);
      chmodSync(suid, 0o4755);
      chmodSync(lib, 0o644);
      await runCases(pod, suid, ['secure'], { HOOK_TEST_LIB: lib, SIDELANE_HOOK_LOG: '1' }, [
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
      ]);
    });

    assert.equal(await pod.conntrackCount(), 0, 'nf_conntrack_count in the client pod');
  });
});
