/**
 * Issue 10, security: the connect() hook ignores its environment in secure-execution processes (AT_SECURE: setuid,
 * setgid, file capabilities), even when ld.so really preloads it (from /etc/ld.so.preload, which ld.so honours for
 * such programs, unlike LD_PRELOAD). Each program is a real copy with the mode bit or file capability, run by
 * nobody (65534) with the SIDELANE_* environment set; a plain copy run the same way is the control. What happens
 * instead: the connection goes out directly and, with `--outbound hook+tproxy`, the kernel's TPROXY fallback
 * captures it — proved with a setuid client reaching another pod through the proxy exactly once.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { hookLibraryPath } from '../../../src/cli/commands/hook-path';
import type { Pod } from '../../../src/netns/lab';
import { withLab } from '../../support/netns';
import { CLI, cleanEnv, echoServer, init, REPO, startProxy } from '../../support/mesh';
import { scrape, sum } from '../../support/prometheus';

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

/** A private, world-readable directory for the copies (setuid programs must not live in a writable place). */
function secureDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sidelane-secure-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  return dir;
}

function gcc(source: string, out: string, libs: string[] = []): void {
  execFileSync('gcc', ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', out, source, ...libs], { stdio: 'pipe' });
}

/** Copies `bin` to `name` in `dir` and gives it `mode` (and a file capability when `cap` is set). */
function variant(bin: string, dir: string, name: string, mode: number, cap?: string): string {
  const p = path.join(dir, name);
  copyFileSync(bin, p);
  chmodSync(p, mode);
  if (cap) execFileSync('setcap', [cap, p]);
  return p;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function asNobody(pod: Pod, argv: string[], env: Record<string, string>, wrap: string[] = []): Promise<Run> {
  const cmd = [...wrap, ...NOBODY, 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv];
  return pod.exec(cmd[0]!, cmd.slice(1), {
    allowFailure: true,
    env: cleanEnv(),
    timeoutMs: 60_000,
  });
}

function passed(r: Run, c: string): void {
  const failed = r.stdout.split('\n').find((l) => l.startsWith('FAIL'));
  assert.equal(failed, undefined, `${failed}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.match(r.stdout, new RegExp(`^ok ${c}$`, 'm'));
}

test('secure-execution processes (setgid, file capabilities, setuid with ld.so.preload) ignore the SIDELANE_* environment', { timeout: 120_000 }, async (t) => {
  await withLab(t, { prefix: 'secaux' }, async (lab) => {
    const pod = await lab.addPod('client');
    const dir = secureDir(t);
    const built = path.join(dir, 'build');
    mkdirSync(built);
    gcc(path.join(REPO, 'test/hook/hook_test.c'), path.join(built, 'hook_test'), ['-ldl']);
    const lib = path.join(dir, 'libsidelane_hook.so');
    copyFileSync(hookLibraryPath(), lib);
    chmodSync(lib, 0o644);
    const plain = variant(path.join(built, 'hook_test'), dir, 'plain', 0o755);
    const suid = variant(plain, dir, 'suid', 0o4755);
    const sgid = variant(plain, dir, 'sgid', 0o2755);
    const fcap = variant(plain, dir, 'fcap', 0o755, 'cap_net_bind_service=ep');
    const env = {
      LD_PRELOAD: lib,
      HOOK_TEST_LIB: lib,
      SIDELANE_OUTBOUND_PORT: '16001',
      SIDELANE_HOOK_LOG: '1',
      HOOK_TEST_DIRECT_ADDR: pod.ipv4,
      HOOK_TEST_DIRECT_PORT: '18080',
    };

    await t.test('control: the plain copy, run by nobody with the same environment, is redirected', async () => {
      const r = await asNobody(pod, [plain, 'blocking_v4'], env);
      passed(r, 'blocking_v4');
      assert.match(r.stderr, /sidelane-hook\[\d+\]: active outbound_port=16001/);
    });

    for (const [what, bin] of [
      ['setgid', sgid],
      ['file capability (cap_net_bind_service=ep)', fcap],
    ] as const) {
      await t.test(`${what}: AT_SECURE is set, LD_PRELOAD is dropped, the hook (dlopen'ed) passes everything through, silently`, async () => {
        const r = await asNobody(pod, [bin, 'secure'], env);
        passed(r, 'secure');
        assert.doesNotMatch(r.stderr, /sidelane-hook/, 'even SIDELANE_HOOK_LOG is not trusted: no output at all');
      });
    }

    // /etc/ld.so.preload in a private mount namespace (an overlay on /etc): ld.so loads the hook into the setuid
    // program for real; its constructor sees AT_SECURE and stays inert.
    const preloadWrap = [
      'unshare',
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      [
        'set -e',
        `mkdir -p ${dir}/ovl/u ${dir}/ovl/w`,
        `mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/ovl/u,workdir=${dir}/ovl/w /etc`,
        `echo ${lib} > /etc/ld.so.preload`,
        'exec "$@"',
      ].join('\n'),
      'sh',
    ];
    const noPreloadEnv = { ...env, LD_PRELOAD: '' };

    await t.test('control: /etc/ld.so.preload loads the hook into a plain program, which honours the environment', async () => {
      const r = await asNobody(pod, [plain, 'blocking_v4'], noPreloadEnv, preloadWrap);
      passed(r, 'blocking_v4');
    });

    await t.test('setuid root with the hook preloaded by ld.so: inert, a plain connect() goes direct, getpeername is the real peer', async () => {
      const r = await asNobody(pod, [suid, 'secure_preloaded'], noPreloadEnv, preloadWrap);
      passed(r, 'secure_preloaded');
      assert.doesNotMatch(r.stderr, /sidelane-hook/);
    });
    assert.equal(await pod.conntrackCount(), 0);
  });
});

test('what a setuid client gets instead: a direct connect, captured once by the TPROXY fallback (hook+tproxy)', { timeout: 90_000 }, async (t) => {
  await withLab(t, { prefix: 'secsuid' }, async (lab) => {
    const client = await lab.addPod('client');
    const server = await lab.addPod('server');
    await init(client);
    await startProxy(client);
    await echoServer(server, [9000]);
    const dir = secureDir(t);
    const built = path.join(dir, 'build');
    mkdirSync(built);
    gcc(path.join(REPO, 'test/fixtures/clients/connect_line.c'), path.join(built, 'connect_line'));
    const plain = variant(path.join(built, 'connect_line'), dir, 'plain', 0o755);
    const suid = variant(plain, dir, 'suid', 0o4755);
    const captured = async (): Promise<{ hook: number; tproxy: number }> => {
      const s = await scrape(client);
      return {
        hook: sum(s, 'sidelane_capture_connections_total', { direction: 'outbound', capture: 'hook' }),
        tproxy: sum(s, 'sidelane_capture_connections_total', { direction: 'outbound', capture: 'tproxy' }),
      };
    };
    for (const [what, bin, path_] of [
      ['plain client (control)', plain, 'hook'],
      ['setuid-root client', suid, 'tproxy'],
    ] as const) {
      const before = await captured();
      // `sidelane exec` sets LD_PRELOAD and SIDELANE_*; setpriv keeps them; ld.so drops LD_PRELOAD for the setuid one.
      const r = await client.exec('node', [CLI, 'exec', '--', ...NOBODY, bin, server.ipv4, '9000'], { env: cleanEnv(), allowFailure: true, timeoutMs: 30_000 });
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^line=peer ${client.ipv4.replace(/\./g, '\\.')} \\d+$`, 'm'), `${what}: the server saw the client pod`);
      assert.match(r.stdout, new RegExp(`^peer=${server.ipv4.replace(/\./g, '\\.')}:9000$`, 'm'), `${what}: getpeername shows the real server`);
      const after = await captured();
      const want = path_ === 'hook' ? { hook: before.hook + 1, tproxy: before.tproxy } : { hook: before.hook, tproxy: before.tproxy + 1 };
      assert.deepEqual(after, want, `${what}: captured once, by ${path_}`);
    }
    assert.equal(await client.conntrackCount(), 0);
  });
});
