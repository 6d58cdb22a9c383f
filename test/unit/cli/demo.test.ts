/** `sidelane demo`'s command line: bad flags exit 2 with one line; without root, one line and exit 1, nothing created. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { CLI } from '../../support/mesh';

const run = (args: readonly string[], uid?: number) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, ...(uid !== undefined ? { uid, gid: uid } : {}) });

test('bad demo flags exit 2 with one line naming the flag and what was expected', () => {
  const cases: [string[], RegExp][] = [
    [['demo', '--requests', '0'], /^sidelane: --requests: expected an integer 1-100000, got '0'\n$/],
    [['demo', '--concurrency', 'x'], /^sidelane: --concurrency: expected an integer 1-256, got 'x'\n$/],
    [['demo', '--jason-requests', '-1'], /^sidelane: --jason-requests: expected an integer 0-100000, got '-1'\n$/],
    [['demo', '--down', '--keep'], /^sidelane: --down: expected on its own \(it removes kept meshes\), not with --keep\n$/],
  ];
  for (const [args, stderr] of cases) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, stderr);
  }
});

test('without root: one line, exit 1, before anything is created', (t) => {
  if (process.getuid?.() !== 0) {
    // Already unprivileged: the command itself is the test.
    const r = run(['demo']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^sidelane: demo needs root: it creates network namespaces/);
    return;
  }
  const nobody = 65534;
  const r = run(['demo', '--json', '-'], nobody);
  if (r.error) return t.skip(`cannot run as uid ${nobody}: ${r.error.message}`);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, 'sidelane: demo needs root: it creates network namespaces and installs capture rules in them (run it with sudo)\n');
  assert.equal(r.stdout, '');
  const down = run(['demo', '--down'], nobody);
  assert.equal(down.status, 1);
  assert.match(down.stderr, /^sidelane: demo --down needs root/);
});
