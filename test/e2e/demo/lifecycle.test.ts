/**
 * Interrupting the demo: SIGTERM in the middle removes everything (as Ctrl-C does); after a SIGKILL, which leaves
 * no chance to clean up, `sidelane demo --down` finds the orphaned mesh and removes it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { listNetns } from '../../../src/netns/lab';
import { netnsAvailable } from '../../support/netns';
import { CLI, cleanEnv } from '../../support/mesh';
import { leftovers, NOTHING, runCli } from './demo-support';

/** Starts a long demo and resolves once its traffic runs (every pod up), with what identifies its mesh. */
async function demoInTraffic(t: TestContext) {
  const child = spawn(process.execPath, [CLI, 'demo', '--requests', '5000'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  // Whatever happens, the demo does not outlive the test (SIGTERM: it removes its mesh itself).
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 90_000;
  while (!out.includes('[2/9]') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, /\[2\/9\]/, `the demo did not reach the traffic step: ${out.slice(-2000)}`);
  const dir = /Configs and logs:\s+(\S+)\.\s/.exec(out)?.[1];
  assert.ok(dir, 'the run directory is printed');
  const id = dir.split('/').pop()!;
  const namespaces = (await listNetns()).filter((n) => n.startsWith(`${id}-`));
  assert.equal(namespaces.length, 8, `pods + node namespaces of ${id}: ${namespaces}`);
  const inodes = new Set(namespaces.map((n) => statSync(`/run/netns/${n}`).ino));
  return { child, exited, output: () => out, dir, id, inodes };
}

test('SIGTERM during the demo: exit 143, and the mesh is gone with every process in it', { timeout: 120_000 }, async (t) => {
  if (!netnsAvailable(t)) return;
  const demo = await demoInTraffic(t);
  demo.child.kill('SIGTERM');
  const { code } = await demo.exited;
  assert.equal(code, 143);
  assert.match(demo.output(), /interrupted \(SIGTERM\): removing the demo mesh/);
  assert.deepEqual(await leftovers(demo.id, demo.inodes, demo.dir), NOTHING);
});

test('a demo killed with SIGKILL (no chance to clean up): --down finds its mesh and removes all of it', { timeout: 120_000 }, async (t) => {
  if (!netnsAvailable(t)) return;
  const demo = await demoInTraffic(t);
  demo.child.kill('SIGKILL');
  await demo.exited;
  const orphaned = await leftovers(demo.id, demo.inodes, demo.dir);
  assert.equal(orphaned.namespaces.length, 8, 'SIGKILL leaves the mesh up');
  assert.notDeepEqual(orphaned.processes, []);
  const down = await runCli(['demo', '--down', demo.id]);
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stdout, new RegExp(`removed demo mesh ${demo.id} \\(7 pods, its demo process had died`));
  assert.deepEqual(await leftovers(demo.id, demo.inodes, demo.dir), NOTHING);
});
