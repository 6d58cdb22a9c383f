/**
 * `sidelane exec` as a user runs it: the real CLI in a child process. (That the hook then redirects real clients is
 * proven in test/e2e/hook/, inside network namespaces.)
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { hookLibraryPath } from '../../../src/cli/commands/hook-path';

const root = process.env.SIDELANE_ROOT ?? path.resolve(__dirname, '../../../..');
const cli = path.join(root, 'dist/src/cli/main.js');

function sidelane(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIDELANE_') && k !== 'LD_PRELOAD'));
  const r = spawnSync(process.execPath, [cli, ...args], { env: { ...clean, ...env }, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('every bad flag value exits 2 with one line naming the flag', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--outbound-port', '0'], /^sidelane: --outbound-port: expected a port 1-65535, got "0"\n$/],
    [['--outbound-port', 'http'], /--outbound-port/],
    [['--exclude-cidrs', '10.0.0.0/33'], /^sidelane: --exclude-cidrs: "10.0.0.0\/33" is not a CIDR/],
    [['--include-cidrs', 'nowhere'], /--include-cidrs: "nowhere"/],
    [['--exclude-ports', '22,ssh'], /--exclude-ports: "ssh"/],
    [['--proxy-ports', '0'], /--proxy-ports: "0"/],
    [['--on-proxy-down', 'sometimes'], /--on-proxy-down: expected wait:<ms> \(0-600000\), open or closed, got "sometimes"/],
  ];
  for (const [flags, re] of cases) {
    const r = sidelane(['exec', ...flags, '--', 'true']);
    assert.equal(r.code, 2, `${flags.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  assert.equal(sidelane(['exec']).code, 2); // no command
  assert.equal(sidelane(['exec', '--no-such-flag', '--', 'true']).code, 2);
});

test('the child gets the hook appended to LD_PRELOAD and the SIDELANE_* settings from the flags', () => {
  const r = sidelane(
    ['exec', '--outbound-port', '16001', '--exclude-cidrs', '10.0.0.0/8, fd00::/8', '--exclude-ports', '22', '--include-cidrs', '*', '--on-proxy-down', 'closed', '--hook-log', '--', 'env'],
    { LD_PRELOAD: '/lib/x86_64-linux-gnu/libdl.so.2' },
  );
  assert.equal(r.code, 0, r.stderr);
  const env = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  assert.equal(env.LD_PRELOAD, `/lib/x86_64-linux-gnu/libdl.so.2:${hookLibraryPath()}`);
  assert.equal(env.SIDELANE_OUTBOUND_PORT, '16001');
  assert.equal(env.SIDELANE_EXCLUDE_CIDRS, '10.0.0.0/8,fd00::/8');
  assert.equal(env.SIDELANE_EXCLUDE_PORTS, '22');
  assert.equal(env.SIDELANE_INCLUDE_CIDRS, '*');
  assert.equal(env.SIDELANE_HOOK_ON_PROXY_DOWN, 'closed');
  assert.equal(env.SIDELANE_HOOK_LOG, '1');
  assert.equal(env.SIDELANE_PROXY_PORTS, undefined); // not given: the hook's default applies
  // The hook really loaded in the child and read the settings.
  assert.match(r.stderr, /sidelane-hook\[\d+\]: active outbound_port=16001 on_proxy_down=closed/);
});

test("exits with the child's code, 128+signal when it was killed, 127 when the command does not exist", () => {
  assert.equal(sidelane(['exec', '--', 'sh', '-c', 'exit 7']).code, 7);
  assert.equal(sidelane(['exec', '--', 'sh', '-c', 'kill -TERM $$']).code, 143);
  const missing = sidelane(['exec', '--', 'no-such-command-sidelane']);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /^sidelane: exec: cannot run no-such-command-sidelane: command not found\n$/);
  // Arguments after -- are the child's, even when they look like sidelane's flags.
  const r = sidelane(['exec', '--', 'sh', '-c', 'printf "%s|" "$@"', 'sh', '--hook-log', '-v']);
  assert.equal(r.stdout, '--hook-log|-v|');
});

test('forwards SIGTERM to the child and exits with what the child chose', async (t) => {
  const child = spawn(process.execPath, [cli, 'exec', '--', 'sh', '-c', 'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.05; done'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a failure cannot leave the shell loop behind
  });
  t.after(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child never became ready: ${out}`)), 10_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.kill('SIGTERM'); // to sidelane, not to sh
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.match(out, /got-term/);
  assert.equal(code, 3);
});
